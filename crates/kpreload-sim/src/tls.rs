//! HTTPS, for a simulator whose scenario has `users`: bearer tokens are only worth checking
//! where clients send them, and kubectl sends none over plain HTTP.
//!
//! Each start makes its own certificate authority and a serving certificate it signs, for
//! `127.0.0.1`, `::1` and `localhost`; the kubeconfig carries the authority as
//! `certificate-authority-data`, as a real cluster's does. The private keys never leave the
//! process.
//!
//! The same port still answers plain HTTP for what a real API server does not serve: the
//! registry (`/v2/…`, which kpreload reaches over HTTP on loopback) and the control endpoint
//! (`/sim/…`). An API path over plain HTTP gets Go's own answer, `400 Client sent an HTTP
//! request to an HTTPS server.`

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{Request, StatusCode};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

/// The first byte of a TLS connection: a handshake record.
const HANDSHAKE: u8 = 0x16;
/// How long a client may take over its handshake before the connection is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A certificate authority and the serving configuration it signed.
pub struct Tls {
    /// The authority's certificate, PEM: what a client trusts.
    pub ca_pem: String,
    acceptor: TlsAcceptor,
}

impl Tls {
    /// A fresh authority and a serving certificate for loopback.
    pub fn generate() -> Result<Tls, String> {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let failed = |e: rcgen::Error| format!("cannot make the simulator's certificate: {e}");
        let ca_key = KeyPair::generate().map_err(failed)?;
        let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(failed)?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "kpreload-sim certificate authority");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).map_err(failed)?;
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().map_err(failed)?;
        let names = ["127.0.0.1", "::1", "localhost"].map(String::from).to_vec();
        let mut leaf = CertificateParams::new(names).map_err(failed)?;
        leaf.distinguished_name
            .push(DnType::CommonName, "kpreload-sim");
        leaf.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let leaf_cert = leaf.signed_by(&key, &issuer).map_err(failed)?;

        let chain: Vec<CertificateDer<'static>> =
            vec![leaf_cert.der().clone(), ca_cert.der().clone()];
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("cannot set up TLS: {e}"))?
            .with_no_client_auth()
            .with_single_cert(chain, private)
            .map_err(|e| format!("cannot set up TLS: {e}"))?;
        // As an API server: HTTP/2 for whoever asks, HTTP/1.1 for WebSocket upgrades.
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Tls {
            ca_pem: ca_cert.pem(),
            acceptor: TlsAcceptor::from(Arc::new(config)),
        })
    }
}

/// Serves `app` on `listener`: TLS connections get everything, plain ones only what a real
/// API server would not be asked for over TLS (see the module's text).
pub async fn serve(listener: TcpListener, app: Router, tls: Arc<Tls>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors, or a connection reset before it was accepted.
                tracing::warn!("accepting a connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let app = app.clone();
        let tls = tls.clone();
        tokio::spawn(async move { connection(tcp, peer, app, &tls).await });
    }
}

async fn connection(tcp: TcpStream, peer: SocketAddr, app: Router, tls: &Tls) {
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    let is_tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tcp.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == HANDSHAKE,
        _ => return,
    };
    let builder = Builder::new(TokioExecutor::new());
    let result = if is_tls {
        let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!("TLS handshake with {peer} failed: {e}");
                return;
            }
            Err(_) => return,
        };
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let mut app = app.clone();
            async move { app.call(req).await }
        });
        builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .await
    } else {
        let service = hyper::service::service_fn(move |req: Request<Incoming>| {
            let mut app = app.clone();
            async move {
                if plain_allowed(req.uri().path()) {
                    app.call(req).await
                } else {
                    Ok::<_, Infallible>(plain_refused())
                }
            }
        });
        builder
            .serve_connection_with_upgrades(TokioIo::new(tcp), service)
            .await
    };
    if let Err(e) = result {
        tracing::debug!("connection from {peer} ended: {e}");
    }
}

/// What plain HTTP may reach on a simulator that serves HTTPS.
pub fn plain_allowed(path: &str) -> bool {
    ["/v2", "/sim"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

/// Go's net/http answer to plain HTTP on a TLS port, which is what an API server sends.
fn plain_refused() -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from("Client sent an HTTP request to an HTTPS server.\n"),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_reaches_the_registry_and_the_control_endpoint_only() {
        for path in ["/v2", "/v2/", "/v2/app/manifests/1", "/sim/faults"] {
            assert!(plain_allowed(path), "{path}");
        }
        for path in [
            "/api",
            "/api/v1/pods",
            "/apis",
            "/v2x",
            "/simulate",
            "/version",
            "/",
        ] {
            assert!(!plain_allowed(path), "{path}");
        }
    }

    #[test]
    fn each_start_has_its_own_authority() {
        let a = Tls::generate().unwrap();
        let b = Tls::generate().unwrap();
        assert!(a.ca_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert_ne!(a.ca_pem, b.ca_pem);
    }
}
