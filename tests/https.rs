//! AWS calls over HTTPS. Everything else in the suite talks plain HTTP to
//! moto, and stackup sets TLS up only at its first `https://` request: here an
//! HTTPS server on loopback (the local cloud's PostgreSQL certificate, for
//! 127.0.0.1) answers as CloudFormation does for a stack that does not exist,
//! and the system's trust store (SSL_CERT_FILE) decides whether it is trusted.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::LocalCloud;

/// A one-file HTTPS server that answers every POST with CloudFormation's
/// "Stack with id X does not exist" (400 ValidationError). It stops after a
/// minute whatever happens, and when dropped.
struct HttpsServer {
    child: Child,
    port: u16,
    /// What the server prints after its port: a line per refused handshake.
    lines: BufReader<std::process::ChildStdout>,
}

const SERVER: &str = r#"
import http.server, ssl, sys, time
cert, key = sys.argv[1], sys.argv[2]
body = (b'<ErrorResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">'
        b'<Error><Type>Sender</Type><Code>ValidationError</Code>'
        b'<Message>Stack with id demo-local-v1-platform does not exist</Message></Error>'
        b'<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>')
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(400)
        self.send_header("Content-Type", "text/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.HTTPServer):
    def get_request(self):
        try:
            return super().get_request()
        except ssl.SSLError:
            print("tls-refused", flush=True)
            raise
server = Server(("127.0.0.1", 0), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(cert, key)
server.socket = context.wrap_socket(server.socket, server_side=True)
server.timeout = 1
print(server.server_address[1], flush=True)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        server.handle_request()
    except Exception:
        pass
"#;

impl HttpsServer {
    fn start(cloud: &LocalCloud) -> HttpsServer {
        let pg = cloud
            .path("postgres", "ca_file")
            .parent()
            .expect("the PostgreSQL files' folder")
            .to_path_buf();
        let mut child = Command::new("python3")
            .args(["-c", SERVER])
            .arg(pg.join("server.crt"))
            .arg(pg.join("server.key"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        lines
            .read_line(&mut line)
            .expect("the server says its port");
        let port = line.trim().parse().expect("a port");
        HttpsServer { child, port, lines }
    }

    /// Stop it, and count the handshakes it saw refused.
    fn refused_handshakes(mut self) -> usize {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut rest = String::new();
        let _ = std::io::Read::read_to_string(&mut self.lines, &mut rest);
        rest.lines().filter(|line| *line == "tls-refused").count()
    }

    fn endpoint(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `status local` against the server with `trusted` as the whole trust store:
/// its exit code and stderr.
fn status_trusting(
    config: &std::path::Path,
    server: &HttpsServer,
    trusted: &std::path::Path,
) -> (Option<i32>, String) {
    let output = common::stackup(config, &server.endpoint())
        .env("SSL_CERT_FILE", trusted)
        .env_remove("SSL_CERT_DIR")
        .args(["status", "local"])
        .output()
        .expect("runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

#[test]
fn an_https_endpoint_is_reached_over_tls_when_the_trust_store_vouches_for_it() {
    let cloud = LocalCloud::load();
    let server = HttpsServer::start(&cloud);
    let config = common::stack_config_dir(&[]);

    // Trusted: the answer is CloudFormation's, read and said in stackup's words.
    let (code, stderr) =
        status_trusting(config.path(), &server, &cloud.path("postgres", "ca_file"));
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("do not exist yet") && stderr.contains("stackup create-stack local"),
        "{stderr}"
    );

    // Not trusted (the public roots do not vouch for this certificate): the
    // handshake is refused, stackup says it is the certificate and how to
    // trust one, and does not try again (it would not help).
    let public_roots = std::path::Path::new("/etc/ssl/certs/ca-certificates.crt");
    let (code, stderr) = status_trusting(config.path(), &server, public_roots);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("invalid peer certificate")
            && stderr.contains("\n  fix: TLS refused the endpoint")
            && stderr.contains("SSL_CERT_FILE")
            && !stderr.contains("do not exist"),
        "{stderr}"
    );
    assert!(!stderr.contains("user error"), "{stderr}");
    // One handshake per call made (status makes a few at once before the
    // first answer), not the ten attempts of a transient error each.
    let refused = server.refused_handshakes();
    assert!((1..=4).contains(&refused), "{refused} handshakes: {stderr}");
}
