//! The names the store makes up: UIDs and `generateName` suffixes, from a seeded generator.

use super::Inner;

impl Inner {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic for a seed, which keeps demo runs repeatable.
        let mut x = self.uid_state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.uid_state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub(super) fn uid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0x0fff,
            ((b >> 48) & 0x3fff) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    /// Five characters from the alphabet the API server uses for generated names.
    pub(super) fn suffix(&mut self) -> String {
        const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
        let mut n = self.next();
        (0..5)
            .map(|_| {
                let c = ALPHABET[(n % ALPHABET.len() as u64) as usize] as char;
                n /= ALPHABET.len() as u64;
                c
            })
            .collect()
    }
}
