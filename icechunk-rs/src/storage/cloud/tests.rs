//! Offline tests of the cloud stores: configuration, specs, redaction, and the requests on the
//! wire, against a tiny HTTP server of our own on 127.0.0.1 that records every request and
//! answers from a script (no GCS or Azure emulator runs here).

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::error::ErrorKind;
use crate::storage::{from_spec, Storage};

const KEY_ID: &str = "AKIAFAKEKEYID0000001";
const SECRET: &str = "fake/Secret+Key-0123456789abcdefABCDEF";
const TOKEN: &str = "FAKE-session-token-zyxwvu98765";

// ---------------------------------------------------------------------------------------------
// A scripted HTTP/1.1 server

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
enum Reply {
    /// Status, extra headers, body.
    Status(u16, Vec<(&'static str, String)>, Vec<u8>),
    /// Read the request, then close the connection without answering (a lost answer).
    Hang,
    /// Answer after this long.
    Delay(Duration, Box<Reply>),
}

fn ok() -> Reply {
    Reply::Status(200, vec![("ETag", "\"etag-1\"".into())], Vec::new())
}

fn status(code: u16) -> Reply {
    Reply::Status(code, vec![], Vec::new())
}

struct MockServer {
    url: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
}

impl MockServer {
    fn start() -> MockServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(VecDeque::new()));
        let (r, s) = (requests.clone(), script.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                let (r, s) = (r.clone(), s.clone());
                std::thread::spawn(move || serve(stream, r, s));
            }
        });
        MockServer { url, requests, script }
    }

    fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        let mut script = self.script.lock().unwrap();
        script.clear();
        script.extend(replies);
        self.requests.lock().unwrap().clear();
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, requests: Arc<Mutex<Vec<Recorded>>>, script: Arc<Mutex<VecDeque<Reply>>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    // One request per connection: every answer says `Connection: close`.
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0; len];
    let _ = reader.read_exact(&mut body);
    requests.lock().unwrap().push(Recorded { method, path, headers, body });
    let reply = script.lock().unwrap().pop_front().unwrap_or_else(ok);
    respond(stream, reply);
}

fn respond(mut stream: TcpStream, reply: Reply) {
    match reply {
        Reply::Hang => {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        Reply::Delay(d, reply) => {
            std::thread::sleep(d);
            respond(stream, *reply);
        }
        Reply::Status(code, headers, body) => {
            let mut out =
                format!("HTTP/1.1 {code} Status\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
            for (k, v) in headers {
                out.push_str(&format!("{k}: {v}\r\n"));
            }
            out.push_str("\r\n");
            let _ = stream.write_all(out.as_bytes());
            let _ = stream.write_all(&body);
        }
    }
}

fn fast_network() -> NetworkOptions {
    NetworkOptions {
        max_retries: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(10),
        request_timeout: Duration::from_millis(1500),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------------
// S3 and S3-compatibles

fn s3_options() -> S3Options {
    S3Options {
        bucket: "bucket".into(),
        prefix: "some/repo".into(),
        region: Some("eu-west-1".into()),
        access_key_id: Some(KEY_ID.into()),
        secret_access_key: Some(SECRET.into()),
        session_token: Some(TOKEN.into()),
        ..Default::default()
    }
}

#[track_caller]
fn assert_no_credentials(text: &str) {
    for secret in [KEY_ID, SECRET, TOKEN, "Secret+Key", "BEGIN PRIVATE KEY", "sig=", "c2VjcmV0"] {
        assert!(!text.contains(secret), "`{secret}` appears in: {text}");
    }
}

#[test]
fn s3_spec_round_trips_with_credentials_but_never_shows_them() {
    let options = s3_options();
    let storage = new_s3_storage(options.clone()).unwrap();
    let spec = storage.spec();
    assert_eq!(spec, StorageSpec::S3(options.clone()));
    assert_eq!(storage.location(), "s3://bucket/some/repo");
    for text in [
        format!("{spec:?}"),
        format!("{spec:#?}"),
        spec.to_string(),
        format!("{storage:?}"),
        format!("{options:?}"),
        storage.location(),
    ] {
        assert_no_credentials(&text);
    }
    assert_eq!(
        spec.to_string(),
        r#"s3_storage(bucket="bucket", prefix="some/repo", region="eu-west-1", credentials=static)"#
    );
    // The credentials travel (a worker must authenticate)...
    let json = serde_json::to_string(&spec).unwrap();
    assert!(json.contains(SECRET) && json.contains(TOKEN));
    assert_eq!(serde_json::from_str::<StorageSpec>(&json).unwrap(), spec);
    assert_eq!(StorageSpec::from_bytes(&spec.to_bytes()).unwrap(), spec);
    assert_eq!(StorageSpec::from_bytes(b"junk").unwrap_err().kind(), ErrorKind::InvalidInput);
    // ... and rebuild the same storage.
    assert_eq!(from_spec(&spec).unwrap().spec(), spec);
    // Missing fields take their defaults (older or hand-written specs).
    let minimal: StorageSpec = serde_json::from_str(r#"{"S3":{"bucket":"b"}}"#).unwrap();
    assert_eq!(minimal, StorageSpec::S3(S3Options::new("b", "")));
}

#[test]
fn s3_options_are_checked() {
    let invalid = |o: S3Options| {
        let err = new_s3_storage(o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
        assert_no_credentials(&err.to_string());
        err.to_string()
    };
    invalid(S3Options { bucket: String::new(), ..s3_options() });
    invalid(S3Options { bucket: "a/b".into(), ..s3_options() });
    invalid(S3Options { secret_access_key: None, session_token: None, ..s3_options() });
    invalid(S3Options { access_key_id: None, secret_access_key: None, ..s3_options() });
    invalid(S3Options { anonymous: true, ..s3_options() });
    let msg = invalid(S3Options { endpoint_url: Some("http://127.0.0.1:9000".into()), ..s3_options() });
    assert!(msg.contains("allow_http"), "{msg}");
    invalid(S3Options { endpoint_url: Some("ftp://x".into()), allow_http: true, ..s3_options() });
    invalid(S3Options {
        network: NetworkOptions { read_part_size: 0, ..Default::default() },
        ..s3_options()
    });
    // Anonymous and environment credentials build without any key.
    new_s3_storage(S3Options { anonymous: true, ..S3Options::new("b", "") }).unwrap();
    let from_env = new_s3_storage(S3Options { from_env: true, ..S3Options::new("b", "p") }).unwrap();
    assert!(from_env.spec().to_string().contains("credentials=from_env"));
}

#[test]
fn r2_and_tigris_endpoints() {
    let r2 = new_r2_storage("0123abcd", s3_options()).unwrap();
    let StorageSpec::S3(o) = r2.spec() else { panic!() };
    assert_eq!(o.endpoint_url.as_deref(), Some("https://0123abcd.r2.cloudflarestorage.com"));
    assert_eq!(o.provider, S3Provider::R2);
    assert_eq!(o.region.as_deref(), Some("eu-west-1"));
    let r2 = new_r2_storage("0123abcd", S3Options { region: None, ..s3_options() }).unwrap();
    assert!(r2.spec().to_string().starts_with("r2_storage(bucket=\"bucket\""), "{}", r2.spec());
    assert!(r2.spec().to_string().contains("region=\"auto\""));
    assert_no_credentials(&format!("{:?} {}", r2.spec(), r2.spec()));
    assert_eq!(new_r2_storage("", s3_options()).unwrap_err().kind(), ErrorKind::InvalidInput);
    assert_eq!(new_r2_storage("a.b/c", s3_options()).unwrap_err().kind(), ErrorKind::InvalidInput);

    let tigris = new_tigris_storage(S3Options { region: None, ..s3_options() }).unwrap();
    let StorageSpec::S3(o) = tigris.spec() else { panic!() };
    assert_eq!(o.endpoint_url.as_deref(), Some(TIGRIS_ENDPOINT));
    assert_eq!(o.provider, S3Provider::Tigris);
    assert_eq!(o.region.as_deref(), Some("auto"));
    assert!(tigris.spec().to_string().starts_with("tigris_storage("));
    assert_eq!(from_spec(&tigris.spec()).unwrap().spec(), tigris.spec());
}

fn s3_at(server: &MockServer, provider: S3Provider) -> Arc<dyn Storage> {
    let options = S3Options {
        endpoint_url: Some(server.url.clone()),
        allow_http: true,
        provider,
        network: fast_network(),
        ..s3_options()
    };
    new_s3_storage(options).unwrap()
}

#[tokio::test]
async fn s3_create_if_absent_on_the_wire() {
    let server = MockServer::start();
    // Tigris is known to honour If-None-Match: no check first.
    let storage = s3_at(&server, S3Provider::Tigris);

    server.script([status(412)]);
    assert!(!storage.put_if_absent("refs/a", Bytes::from_static(b"x")).await.unwrap());
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let put = &requests[0];
    assert_eq!((put.method.as_str(), put.path.as_str()), ("PUT", "/bucket/some/repo/refs/a"));
    assert_eq!(put.header("if-none-match"), Some("*"));
    assert_eq!(put.header("x-tigris-consistent"), Some("true"));
    assert_eq!(put.body, b"x");
    assert!(put.header("authorization").unwrap().contains(KEY_ID));
    assert_eq!(put.header("x-amz-security-token"), Some(TOKEN));
    for r in &requests {
        assert!(r.headers.iter().all(|(_, v)| !v.contains(SECRET)));
    }

    server.script([ok()]);
    assert!(storage.put_if_absent("refs/b", Bytes::from_static(b"x")).await.unwrap());
    server.script([status(304)]);
    assert!(!storage.put_if_absent("refs/b", Bytes::from_static(b"x")).await.unwrap());

    // 409 ConditionalRequestConflict (a concurrent conditional write in flight): tried again.
    let conflict = "<Error><Code>ConditionalRequestConflict</Code></Error>".as_bytes().to_vec();
    server.script([Reply::Status(409, vec![], conflict), ok()]);
    assert!(storage.put_if_absent("refs/c", Bytes::from_static(b"x")).await.unwrap());
    assert_eq!(server.requests().len(), 2);

    // Plain overwrites carry no condition; reads carry the Tigris header too.
    server.script([ok(), Reply::Status(200, vec![("ETag", "\"e\"".into())], b"hello".to_vec())]);
    storage.put("chunks/x", Bytes::from_static(b"hello")).await.unwrap();
    assert_eq!(storage.get("chunks/x").await.unwrap().unwrap(), Bytes::from_static(b"hello"));
    let requests = server.requests();
    assert_eq!(requests[0].header("if-none-match"), None);
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].header("x-tigris-consistent"), Some("true"));
}

#[tokio::test]
async fn s3_lost_answers_and_server_errors_are_retried() {
    let server = MockServer::start();
    let storage = s3_at(&server, S3Provider::R2);

    // The connection closes before the answer: object_store retries; the retry finds the
    // object ("already exists"), which the refs layer recognises by its write_id.
    server.script([Reply::Hang, status(412)]);
    assert!(!storage.put_if_absent("refs/a", Bytes::from_static(b"x")).await.unwrap());
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert!(requests.iter().all(|r| r.method == "PUT" && r.header("if-none-match") == Some("*")));

    // No answer before the request timeout: object_store does not retry a create (it is not
    // idempotent); the storage does.
    server.script([Reply::Delay(Duration::from_secs(3), Box::new(ok())), status(412)]);
    assert!(!storage.put_if_absent("refs/b", Bytes::from_static(b"x")).await.unwrap());
    assert_eq!(server.requests().len(), 2);

    // 503, 500, 429 are retried with backoff.
    server.script([status(503), status(500), status(429), ok()]);
    assert!(storage.put_if_absent("refs/c", Bytes::from_static(b"x")).await.unwrap());
    assert_eq!(server.requests().len(), 4);

    // ... up to max_retries; then a typed storage error, without credentials.
    server.script([status(503), status(503), status(503), status(503), status(503)]);
    let err = storage.put("chunks/x", Bytes::from_static(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert_eq!(server.requests().len(), 4);
    assert_no_credentials(&format!("{err} {err:?}"));

    // A 403 is not retried.
    server.script([Reply::Status(403, vec![], b"<Error><Code>AccessDenied</Code></Error>".to_vec())]);
    let err = storage.get("x").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert_eq!(server.requests().len(), 1);
    assert_no_credentials(&format!("{err} {err:?}"));
}

#[tokio::test]
async fn an_s3_compatible_server_that_ignores_if_none_match_is_refused() {
    let server = MockServer::start();
    // A custom endpoint of unknown make: checked before the first conditional write.
    let storage = s3_at(&server, S3Provider::S3);
    // Both probe creates succeed, at once and then one after the other: the server ignored
    // the condition.
    server.script([ok(), ok(), ok(), ok(), status(204), status(204)]);
    let err = storage.put_if_absent("config.json", Bytes::from_static(b"x")).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Storage);
    assert!(err.to_string().contains("unsafe_single_writer"), "{err}");
    let requests = server.requests();
    let methods: Vec<_> = requests.iter().map(|r| r.method.as_str()).collect();
    // The probe is deleted (object_store deletes with S3's bulk DeleteObjects, a POST).
    assert_eq!(methods, ["PUT", "PUT", "PUT", "PUT", "POST", "POST"]);
    assert!(requests[0].path.starts_with("/bucket/some/repo/.icechunk-probe/"));
    assert!(requests.iter().all(|r| !r.path.ends_with("config.json")));

    // A server that honours it: checked once, then creates go straight through. (Another
    // prefix: the check's answer is remembered per location for the life of the process.)
    let options = S3Options {
        endpoint_url: Some(server.url.clone()),
        allow_http: true,
        prefix: "other/repo".into(),
        network: fast_network(),
        ..s3_options()
    };
    let storage = new_s3_storage(options).unwrap();
    // The probe's delete runs in the background, racing the first create: both get a 200.
    server.script([ok(), status(412), ok(), ok()]);
    assert!(storage.put_if_absent("config.json", Bytes::from_static(b"x")).await.unwrap());
    for _ in 0..200 {
        if server.requests().len() == 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods.iter().filter(|m| *m == "POST").count(), 1, "the probe is deleted: {methods:?}");
    // Checked once: the next create goes straight through.
    server.script([status(412)]);
    assert!(!storage.put_if_absent("config.json", Bytes::from_static(b"x")).await.unwrap());
    assert_eq!(server.requests().len(), 1);

    // With unsafe_single_writer, creates are emulated by HEAD + PUT.
    let options = S3Options {
        endpoint_url: Some(server.url.clone()),
        allow_http: true,
        unsafe_single_writer: true,
        prefix: "third/repo".into(),
        network: fast_network(),
        ..s3_options()
    };
    let storage = new_s3_storage(options).unwrap();
    assert!(storage.spec().to_string().contains("unsafe_single_writer=True"));
    server.script([ok(), ok(), ok(), ok(), status(204), status(204), status(404), ok()]);
    assert!(storage.put_if_absent("config.json", Bytes::from_static(b"x")).await.unwrap());
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(methods, ["PUT", "PUT", "PUT", "PUT", "POST", "POST", "HEAD", "PUT"]);
}

#[tokio::test]
async fn large_objects_are_read_with_ranged_gets() {
    let server = MockServer::start();
    let options = S3Options {
        endpoint_url: Some(server.url.clone()),
        allow_http: true,
        // One part at a time: the scripted server answers in arrival order.
        network: NetworkOptions {
            large_read_threshold: 10,
            read_part_size: 8,
            read_concurrency: 1,
            ..fast_network()
        },
        ..s3_options()
    };
    let storage = new_s3_storage(options).unwrap();
    let data: Vec<u8> = (0u8..20).collect();
    let etag = ("ETag", "\"v1\"".to_string());
    let part = |range: std::ops::Range<usize>| {
        Reply::Status(
            206,
            vec![etag.clone(), ("Content-Range", format!("bytes {}-{}/20", range.start, range.end - 1))],
            data[range].to_vec(),
        )
    };
    server.script([Reply::Status(200, vec![etag.clone()], data.clone()), part(8..16), part(16..20)]);
    assert_eq!(storage.get("chunks/big").await.unwrap().unwrap().as_ref(), &data[..]);
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].header("range"), None);
    let mut ranges: Vec<_> = requests[1..].iter().map(|r| r.header("range").unwrap().to_string()).collect();
    ranges.sort();
    assert_eq!(ranges, ["bytes=16-19", "bytes=8-15"]);
    // The parts are of the version the first answer was.
    assert!(requests[1..].iter().all(|r| r.header("if-match") == Some("\"v1\"")));
}

// ---------------------------------------------------------------------------------------------
// Google Cloud Storage

/// A throwaway RSA key, made here: a service account key must hold a parseable one.
fn rsa_key_pem() -> String {
    let out = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"])
        .output()
        .expect("the GCS tests need the `openssl` command to make a throwaway RSA key");
    assert!(out.status.success(), "openssl failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn service_account_json(pem: &str) -> String {
    serde_json::json!({
        "type": "service_account",
        "project_id": "test-project",
        "private_key_id": "0123456789abcdef",
        "private_key": pem,
        "client_email": "tester@test-project.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": "https://oauth2.googleapis.com/token"
    })
    .to_string()
}

#[test]
fn gcs_configurations() {
    let pem = rsa_key_pem();
    let key = service_account_json(&pem);
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("key.json");
    std::fs::write(&key_path, &key).unwrap();
    let adc_path = dir.path().join("adc.json");
    std::fs::write(
        &adc_path,
        r#"{"type":"authorized_user","client_id":"id.apps.googleusercontent.com","client_secret":"fake-client-secret","refresh_token":"fake-refresh-token"}"#,
    )
    .unwrap();

    let cases = [
        (GcsCredentials::ServiceAccountKey(Secret::new(key.clone())), "credentials=service_account_key"),
        (GcsCredentials::ServiceAccountPath(key_path.clone()), "credentials=service_account_path("),
        (GcsCredentials::ApplicationDefault(Some(adc_path.clone())), "credentials=application_default"),
        (GcsCredentials::Anonymous, "credentials=anonymous"),
        (GcsCredentials::BearerToken(Secret::new("fake-bearer-token")), "credentials=bearer_token"),
    ];
    for (credentials, shown) in cases {
        let options = GcsOptions::new("bucket", "/repo/", credentials);
        let storage = new_gcs_storage(options.clone()).unwrap();
        let spec = storage.spec();
        assert_eq!(spec, StorageSpec::Gcs(options));
        assert_eq!(storage.location(), "gs://bucket/repo");
        let repr = spec.to_string();
        assert!(
            repr.starts_with(r#"gcs_storage(bucket="bucket", prefix="/repo/""#) && repr.contains(shown),
            "{repr}"
        );
        for text in [format!("{spec:?}"), repr, format!("{storage:?}")] {
            assert!(!text.contains("PRIVATE KEY") && !text.contains("fake-bearer-token"), "{text}");
        }
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<StorageSpec>(&json).unwrap(), spec);
        assert_eq!(from_spec(&spec).unwrap().spec(), spec);
    }

    // A broken key is refused at construction, without quoting it.
    let broken =
        service_account_json(&pem.replace("BEGIN PRIVATE KEY-----\n", "BEGIN PRIVATE KEY-----\nAAAA"));
    let err = new_gcs_storage(GcsOptions::new("b", "", GcsCredentials::ServiceAccountKey(broken.into())))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    assert!(!err.to_string().contains(&pem[40..80]), "{err}");
    let err = new_gcs_storage(GcsOptions::new("b", "", GcsCredentials::ServiceAccountKey("not json".into())))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidInput);
    assert!(!err.to_string().contains("not json"), "{err}");
    assert_eq!(
        new_gcs_storage(GcsOptions::new("", "", GcsCredentials::Anonymous)).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
}

#[tokio::test]
async fn gcs_create_if_absent_on_the_wire() {
    let server = MockServer::start();
    let options = GcsOptions {
        endpoint_url: Some(server.url.clone()),
        allow_http: true,
        network: fast_network(),
        ..GcsOptions::new("bucket", "repo", GcsCredentials::BearerToken("fake-bearer-token".into()))
    };
    let storage = new_gcs_storage(options).unwrap();
    server.script([status(412), ok()]);
    assert!(!storage.put_if_absent("refs/a", Bytes::from_static(b"x")).await.unwrap());
    assert!(storage.put_if_absent("refs/b", Bytes::from_static(b"x")).await.unwrap());
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for r in &requests {
        assert_eq!(r.method, "PUT");
        assert_eq!(r.header("x-goog-if-generation-match"), Some("0"), "{r:?}");
        assert_eq!(r.header("authorization"), Some("Bearer fake-bearer-token"));
    }
    assert_eq!(requests[0].path, "/bucket/repo%2Frefs%2Fa");

    // A lost answer: retried, and the object found.
    server.script([Reply::Hang, status(412)]);
    assert!(!storage.put_if_absent("refs/c", Bytes::from_static(b"x")).await.unwrap());
    assert_eq!(server.requests().len(), 2);
    // Errors do not show the token.
    server.script([status(403)]);
    let err = storage.get("x").await.unwrap_err();
    assert!(!format!("{err} {err:?}").contains("fake-bearer-token"), "{err:?}");
}

// ---------------------------------------------------------------------------------------------
// Azure

const AZURE_KEY: &str = "c2VjcmV0LWF6dXJlLWFjY291bnQta2V5LWZvci10ZXN0cw=="; // base64, fake

#[test]
fn azure_configurations() {
    let sas = "?sv=2022-11-02&ss=b&srt=co&sp=rwdlac&se=2030-01-01T00:00:00Z&sig=FAKEsignatureVALUE%3D";
    for (credentials, shown) in [
        (AzureCredentials::AccessKey(AZURE_KEY.into()), "credentials=access_key"),
        (AzureCredentials::SasToken(sas.into()), "credentials=sas_token"),
        (AzureCredentials::BearerToken("fake-azure-bearer".into()), "credentials=bearer_token"),
        (AzureCredentials::Anonymous, "credentials=anonymous"),
    ] {
        let options = AzureOptions::new("account", "container", "repo", credentials);
        let storage = new_azure_storage(options.clone()).unwrap();
        let spec = storage.spec();
        assert_eq!(spec, StorageSpec::Azure(options));
        assert_eq!(storage.location(), "az://account/container/repo");
        let repr = spec.to_string();
        assert_eq!(
            repr,
            format!(r#"azure_storage(account="account", container="container", prefix="repo", {shown})"#)
        );
        for text in [format!("{spec:?}"), repr, format!("{storage:?}")] {
            assert!(
                !text.contains(AZURE_KEY)
                    && !text.contains("FAKEsignature")
                    && !text.contains("fake-azure-bearer"),
                "{text}"
            );
        }
        let json = serde_json::to_string(&spec).unwrap();
        assert_eq!(serde_json::from_str::<StorageSpec>(&json).unwrap(), spec);
        assert_eq!(from_spec(&spec).unwrap().spec(), spec);
    }
    let invalid =
        |o: AzureOptions| assert_eq!(new_azure_storage(o).unwrap_err().kind(), ErrorKind::InvalidInput);
    invalid(AzureOptions::new("", "c", "", AzureCredentials::Anonymous));
    invalid(AzureOptions::new("a", "", "", AzureCredentials::Anonymous));
    invalid(AzureOptions::new("a", "c/d", "", AzureCredentials::Anonymous));
    let err =
        new_azure_storage(AzureOptions::new("a", "c", "", AzureCredentials::AccessKey("not base64!".into())))
            .unwrap_err();
    assert!(!err.to_string().contains("not base64!"), "{err}");
}

#[tokio::test]
async fn azure_create_if_absent_on_the_wire() {
    let server = MockServer::start();
    let options = AzureOptions {
        endpoint_url: Some(format!("{}/account", server.url)),
        allow_http: true,
        network: fast_network(),
        ..AzureOptions::new("account", "container", "repo", AzureCredentials::AccessKey(AZURE_KEY.into()))
    };
    let storage = new_azure_storage(options).unwrap();
    server.script([status(409), status(412), Reply::Status(201, vec![("ETag", "\"e\"".into())], vec![])]);
    assert!(!storage.put_if_absent("refs/a", Bytes::from_static(b"x")).await.unwrap());
    assert!(!storage.put_if_absent("refs/a", Bytes::from_static(b"x")).await.unwrap());
    assert!(storage.put_if_absent("refs/b", Bytes::from_static(b"x")).await.unwrap());
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(r.method, "PUT");
        assert_eq!(r.header("if-none-match"), Some("*"), "{r:?}");
        assert!(r.header("authorization").unwrap().starts_with("SharedKey account:"));
        assert!(r.headers.iter().all(|(_, v)| !v.contains(AZURE_KEY)));
    }
    assert_eq!(requests[0].path, "/account/container/repo/refs/a");
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[tokio::test]
async fn http_storage_reads_and_refuses_writes() {
    let server = MockServer::start();
    let storage = new_http_storage(format!("{}/data/repo/", server.url)).unwrap();
    server.script([Reply::Status(200, vec![("ETag", "\"e\"".into())], b"bytes".to_vec()), status(404)]);
    assert_eq!(storage.get("chunks/a").await.unwrap().unwrap(), Bytes::from_static(b"bytes"));
    assert!(storage.get("chunks/b").await.unwrap().is_none());
    assert_eq!(server.requests()[0].path, "/data/repo/chunks/a");

    for err in [
        storage.put("a", Bytes::new()).await.unwrap_err(),
        storage.put_if_absent("a", Bytes::new()).await.unwrap_err(),
        storage.delete("a").await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::ReadOnly);
        assert!(err.to_string().contains("read-only"), "{err}");
    }
    assert_eq!(server.requests().len(), 2, "a refused write sends nothing");

    let spec = storage.spec();
    assert_eq!(from_spec(&spec).unwrap().spec(), spec);
    assert_eq!(spec.to_string(), format!("http_storage({:?})", format!("{}/data/repo/", server.url)));
}

#[test]
fn http_urls_with_credentials_are_redacted() {
    let url = "https://user:hunter2@example.com/data/repo?X-Amz-Signature=abcdef123456&X-Amz-Expires=60";
    let storage = new_http_storage(url).unwrap();
    for text in [
        format!("{:?}", storage.spec()),
        storage.spec().to_string(),
        format!("{storage:?}"),
        storage.location(),
    ] {
        assert!(!text.contains("hunter2") && !text.contains("abcdef123456"), "{text}");
        assert!(text.contains("example.com/data/repo"), "{text}");
    }
    assert_eq!(redact_url(url), "https://***@example.com/data/repo?***");
    assert_eq!(redact_url("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    assert_eq!(new_http_storage("ftp://x").unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn network_defaults_are_sensible() {
    let n = NetworkOptions::default();
    assert_eq!(n.max_retries, 10);
    assert!(n.connect_timeout <= Duration::from_secs(10) && n.request_timeout >= Duration::from_secs(30));
    assert_eq!(n.large_read_threshold, 16 * 1024 * 1024);
    let json = serde_json::to_string(&n).unwrap();
    assert_eq!(serde_json::from_str::<NetworkOptions>(&json).unwrap(), n);
    assert_eq!(serde_json::from_str::<NetworkOptions>("{}").unwrap(), n);
}

#[tokio::test]
async fn a_probe_pair_that_slipped_through_is_checked_again_in_turn() {
    // Two creates at once both accepted (a server that let a near-simultaneous pair slip
    // through), then one after the other the second is refused: the server honours it.
    let server = MockServer::start();
    let options = S3Options {
        endpoint_url: Some(server.url.clone()),
        allow_http: true,
        prefix: "slipped/through".into(),
        network: fast_network(),
        ..s3_options()
    };
    let storage = new_s3_storage(options).unwrap();
    server.script([ok(), ok(), ok(), status(412)]);
    storage.check_conditional_writes().await.expect("the store is accepted");
    let methods: Vec<_> = server.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(&methods[..4], ["PUT", "PUT", "PUT", "PUT"]);
}

#[tokio::test]
async fn a_probe_refused_twice_still_proves_create_if_absent() {
    // Racing creates may both be refused (S3's 409 while they race, or a create retried
    // after a lost answer that finds the object): only a server that checks refuses.
    let server = MockServer::start();
    let options = S3Options {
        endpoint_url: Some(server.url.clone()),
        allow_http: true,
        prefix: "refused/twice".into(),
        network: fast_network(),
        ..s3_options()
    };
    let storage = new_s3_storage(options).unwrap();
    server.script([status(412), status(412), ok(), ok()]);
    storage.check_conditional_writes().await.expect("the store is accepted");
    assert!(storage.put_if_absent("config.json", Bytes::from_static(b"x")).await.unwrap());
}

// ---------------------------------------------------------------------------------------------
// Attribution

#[tokio::test]
async fn attribution_labels_every_request_and_travels_with_the_spec() {
    let server = MockServer::start();
    let plain = new_http_storage(format!("{}/repo", server.url)).unwrap();
    let labels = Attribution {
        client: Some("weatherlib/0.9".into()),
        workload: Some("nightly ingest".into()),
        principal: Some("team-a".into()),
    };
    let labelled = crate::storage::with_attribution(plain.clone(), &labels).unwrap();
    let expected = format!("weatherlib/0.9 {USER_AGENT} (workload=nightly ingest; principal=team-a)");
    server.script([status(404), status(404), status(404)]);
    assert!(plain.get("config").await.unwrap().is_none());
    assert!(labelled.get("config").await.unwrap().is_none());
    // Rebuilt from its spec (another process), it labels its requests the same way.
    let rebuilt = from_spec(&labelled.spec()).unwrap();
    assert!(rebuilt.get_range("chunks/a", 0..4).await.unwrap().is_none());
    let agents: Vec<_> = server.requests().iter().map(|r| r.header("user-agent").map(String::from)).collect();
    assert_eq!(agents, [Some(USER_AGENT.to_string()), Some(expected.clone()), Some(expected)]);
    assert_eq!(labelled.spec().to_string(), plain.spec().to_string(), "repr shows no labels");

    // S3 (signed requests) too, writes included.
    let s3 = new_s3_storage(S3Options {
        endpoint_url: Some(server.url.clone()),
        allow_http: true,
        network: fast_network(),
        ..s3_options()
    })
    .unwrap();
    let s3 =
        crate::storage::with_attribution(s3, &Attribution { workload: Some("w".into()), ..labels.clone() })
            .unwrap();
    server.script([ok()]);
    s3.put("chunks/a", Bytes::from_static(b"x")).await.unwrap();
    let request = &server.requests()[0];
    assert_eq!(request.method, "PUT");
    assert_eq!(
        request.header("user-agent"),
        Some(format!("weatherlib/0.9 {USER_AGENT} (workload=w; principal=team-a)").as_str())
    );
}

#[test]
fn attribution_of_storages_without_requests_and_bad_labels() {
    let labels = Attribution { client: Some("me".into()), ..Default::default() };
    // Memory and local folders send no requests: the same storage comes back.
    let memory = crate::storage::new_in_memory_storage();
    assert!(Arc::ptr_eq(&memory, &crate::storage::with_attribution(memory.clone(), &labels).unwrap()));
    let http = new_http_storage("https://example.com/repo").unwrap();
    // An attribution the storage already carries rebuilds nothing.
    assert!(Arc::ptr_eq(
        &http,
        &crate::storage::with_attribution(http.clone(), &Attribution::default()).unwrap()
    ));
    let bad = Attribution { workload: Some("a;b".into()), ..Default::default() };
    for err in [
        crate::storage::with_attribution(memory, &bad).unwrap_err(),
        new_http_storage_with(HttpOptions {
            network: NetworkOptions { attribution: bad.clone(), ..Default::default() },
            ..HttpOptions::new("https://example.com/repo")
        })
        .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
}
