use std::process::ExitCode;

fn main() -> ExitCode {
    kpreload::cli::main()
}
