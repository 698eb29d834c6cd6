//! A fault-injecting HTTP/1.1 proxy on `127.0.0.1:<ephemeral>` in front of a plain-HTTP lab
//! [`Registry`].
//!
//! Every request is forwarded byte for byte (the `Host` header included, so the upload
//! `Location`s the registry hands out point back at the proxy) and recorded in a log
//! (method, path, query, status, request body bytes, injected fault). A test arms
//! [`FaultRule`]s before or during a run; each rule picks requests by method and path and
//! hits the Nth matching request (and optionally the following ones) with an [`HttpFault`]:
//!
//! * [`HttpFault::Status`] — answer 401, 403, 500, 503 … with a distribution-style JSON error
//!   body (the request body is read and discarded first, so the connection stays usable);
//! * [`HttpFault::Stall`] — hold the request without answering for a while, then close the
//!   connection (a hung registry: the client must time out on its own);
//! * [`HttpFault::DropConnection`] — close the connection without answering;
//! * [`HttpFault::GoDown`] — stop accepting (the listening socket is closed, so connections are
//!   refused) and cut every open connection; [`FaultProxy::come_back`] listens again on
//!   the same port.
//!
//! ```no_run
//! use kod_testlab::{HttpFault, FaultProxy, FaultRule, Registry, RegistryOptions};
//! let registry = Registry::start(RegistryOptions::plain())?;
//! let proxy = FaultProxy::start(&registry)?;
//! // the 2nd and 3rd blob-upload requests get 503 Service Unavailable
//! proxy.arm(FaultRule::blob_uploads(HttpFault::Status(503)).nth(2).times(2));
//! // … push to proxy.host() with --plain-http / --dest-tls-verify=false …
//! let uploaded = proxy.uploaded_blobs(); // (repository, digest) of every finished upload
//! # let _ = uploaded; Ok::<(), anyhow::Error>(())
//! ```
//!
//! Bounded and owned: every socket read polls a stop flag every 100 ms, an idle connection
//! is closed after [`IDLE_LIMIT`], a stall ends when the proxy stops, and dropping the proxy
//! closes the listener, cuts every connection and joins every thread.

use crate::registry::Registry;
use anyhow::{anyhow, bail, Context, Result};
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A connection with no traffic for this long is closed.
pub const IDLE_LIMIT: Duration = Duration::from_secs(120);
/// How often blocked reads look at the stop/down flags.
const POLL: Duration = Duration::from_millis(100);
/// Largest request or response head accepted.
const MAX_HEAD: usize = 64 * 1024;

/// What happens to a request a [`FaultRule`] hits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpFault {
    /// Answer with this HTTP status and a distribution-style JSON error body
    /// (401 also carries `WWW-Authenticate: Basic`).
    Status(u16),
    /// Hold the request unanswered for this long (or until the proxy stops), then close
    /// the connection.
    Stall(Duration),
    /// Close the connection without answering.
    DropConnection,
    /// Stop accepting connections and cut every open one, this one included.
    GoDown,
}

impl HttpFault {
    fn label(&self) -> String {
        match self {
            HttpFault::Status(c) => format!("status {c}"),
            HttpFault::Stall(d) => format!("stall {}s", d.as_secs()),
            HttpFault::DropConnection => "drop connection".into(),
            HttpFault::GoDown => "go down".into(),
        }
    }
}

/// Which requests get a [`HttpFault`]: method and path filters, then the `nth` matching request
/// (1-based) and the `times - 1` matching requests after it.
#[derive(Clone, Debug)]
pub struct FaultRule {
    methods: Vec<String>,
    path_contains: Option<String>,
    nth: usize,
    times: usize,
    fault: HttpFault,
}

impl FaultRule {
    /// Every request; the first one only (change with [`FaultRule::nth`] / [`FaultRule::times`]).
    pub fn any(fault: HttpFault) -> FaultRule {
        FaultRule { methods: Vec::new(), path_contains: None, nth: 1, times: 1, fault }
    }
    /// Blob-upload requests: `POST`/`PATCH`/`PUT` on `…/blobs/uploads/…`.
    pub fn blob_uploads(fault: HttpFault) -> FaultRule {
        FaultRule::any(fault).methods(&["POST", "PATCH", "PUT"]).path_contains("/blobs/uploads/")
    }
    /// Finished blob uploads only: `PUT …/blobs/uploads/…?digest=…`.
    pub fn blob_upload_finishes(fault: HttpFault) -> FaultRule {
        FaultRule::any(fault).methods(&["PUT"]).path_contains("/blobs/uploads/")
    }
    /// Manifest pushes: `PUT …/manifests/…`.
    pub fn manifest_puts(fault: HttpFault) -> FaultRule {
        FaultRule::any(fault).methods(&["PUT"]).path_contains("/manifests/")
    }
    /// Only these methods (upper case).
    pub fn methods(mut self, methods: &[&str]) -> FaultRule {
        self.methods = methods.iter().map(|m| m.to_ascii_uppercase()).collect();
        self
    }
    /// Only paths (without the query) containing `s`.
    pub fn path_contains(mut self, s: &str) -> FaultRule {
        self.path_contains = Some(s.to_string());
        self
    }
    /// Start at the `n`th matching request (1-based).
    pub fn nth(mut self, n: usize) -> FaultRule {
        self.nth = n.max(1);
        self
    }
    /// Hit this many matching requests in a row (from the `nth`).
    pub fn times(mut self, n: usize) -> FaultRule {
        self.times = n;
        self
    }
    /// Hit every matching request from the `nth` on.
    pub fn from_then_on(self) -> FaultRule {
        self.times(usize::MAX)
    }
    fn matches(&self, method: &str, path: &str) -> bool {
        (self.methods.is_empty() || self.methods.iter().any(|m| m == method))
            && self.path_contains.as_deref().is_none_or(|p| path.contains(p))
    }
}

#[derive(Debug)]
struct ArmedRule {
    rule: FaultRule,
    seen: usize,
}

/// One request the proxy saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoggedRequest {
    /// `GET`, `PUT` …
    pub method: String,
    /// The path without the query (`/v2/site/app/blobs/uploads/…`).
    pub path: String,
    /// The query without `?` (empty when none).
    pub query: String,
    /// The status the client got (the registry's or the injected one); `None` when the
    /// connection was stalled, dropped or cut.
    pub status: Option<u16>,
    /// Request body bytes forwarded or discarded.
    pub body_bytes: u64,
    /// The injected fault, if any (`status 503`, `stall 30s`, `drop connection`, `go down`).
    pub fault: Option<String>,
    /// When the request arrived, since the proxy started.
    pub at: Duration,
}

impl LoggedRequest {
    /// The value of `name` in the query (`digest` of `PUT …?digest=sha256:…`), URL-decoded
    /// for `:`.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == name).then(|| v.replace("%3A", ":").replace("%3a", ":"))
        })
    }
    /// The repository of a `/v2/<repo>/blobs/…` or `/v2/<repo>/manifests/…` path.
    pub fn repository(&self) -> Option<String> {
        let rest = self.path.strip_prefix("/v2/")?;
        let i = rest.find("/blobs/").or_else(|| rest.find("/manifests/"))?;
        Some(rest[..i].to_string())
    }
}

struct Inner {
    upstream: String,
    port: u16,
    started: Instant,
    rules: Mutex<Vec<ArmedRule>>,
    log: Mutex<Vec<LoggedRequest>>,
    /// The proxy is being dropped.
    stop: AtomicBool,
    /// Not accepting; every connection is cut.
    down: AtomicBool,
    /// Increments every time the proxy goes down, so connections from before notice.
    epoch: AtomicU64,
    conns: Mutex<Vec<(u64, TcpStream)>>,
    next_conn: AtomicU64,
    workers: Mutex<Vec<JoinHandle<()>>>,
    listening: AtomicBool,
}

impl Inner {
    fn halted(&self, epoch: u64) -> bool {
        self.stop.load(Ordering::SeqCst) || self.epoch.load(Ordering::SeqCst) != epoch
    }
    fn cut_all(&self) {
        for (_, s) in self.conns.lock().expect("conns").iter() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
    fn go_down(&self) {
        self.down.store(true, Ordering::SeqCst);
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.cut_all();
    }
    /// The fault for this request, if a rule hits it (every matching rule counts it).
    fn fault_for(&self, method: &str, path: &str) -> Option<HttpFault> {
        let mut hit = None;
        for armed in self.rules.lock().expect("rules").iter_mut() {
            if armed.rule.matches(method, path) {
                armed.seen += 1;
                let first = armed.rule.nth;
                let in_window = armed.seen >= first && (armed.seen - first) < armed.rule.times;
                if in_window && hit.is_none() {
                    hit = Some(armed.rule.fault.clone());
                }
            }
        }
        hit
    }
    fn record(&self, entry: LoggedRequest) {
        self.log.lock().expect("log").push(entry);
    }
}

/// The fault-injecting proxy; stopped (listener closed, connections cut, threads joined) on
/// drop.
pub struct FaultProxy {
    inner: Arc<Inner>,
    acceptor: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("host", &self.host()).field("upstream", &self.inner.upstream).finish()
    }
}

impl FaultProxy {
    /// A proxy in front of a plain-HTTP lab registry.
    pub fn start(registry: &Registry) -> Result<FaultProxy> {
        if registry.is_tls() {
            bail!("FaultProxy forwards plain HTTP only; start the registry with RegistryOptions::plain()");
        }
        FaultProxy::start_to(&registry.host())
    }

    /// A proxy in front of any plain-HTTP server at `upstream` (`HOST:PORT`).
    pub fn start_to(upstream: &str) -> Result<FaultProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let port = listener.local_addr()?.port();
        let inner = Arc::new(Inner {
            upstream: upstream.to_string(),
            port,
            started: Instant::now(),
            rules: Mutex::new(Vec::new()),
            log: Mutex::new(Vec::new()),
            stop: AtomicBool::new(false),
            down: AtomicBool::new(false),
            epoch: AtomicU64::new(0),
            conns: Mutex::new(Vec::new()),
            next_conn: AtomicU64::new(0),
            workers: Mutex::new(Vec::new()),
            listening: AtomicBool::new(true),
        });
        let acceptor = {
            let inner = inner.clone();
            thread::Builder::new().name("fault-proxy-accept".into()).spawn(move || accept_loop(inner, listener))?
        };
        Ok(FaultProxy { inner, acceptor: Some(acceptor) })
    }

    /// `127.0.0.1:PORT` — the address clients use.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.inner.port)
    }
    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.inner.port
    }
    /// Arm a rule (rules are checked in the order they were armed; the first hit wins, but
    /// every matching rule counts the request).
    pub fn arm(&self, rule: FaultRule) {
        self.inner.rules.lock().expect("rules").push(ArmedRule { rule, seen: 0 });
    }
    /// Remove every rule.
    pub fn disarm(&self) {
        self.inner.rules.lock().expect("rules").clear();
    }
    /// Everything logged so far, in order of completion.
    pub fn log(&self) -> Vec<LoggedRequest> {
        self.inner.log.lock().expect("log").clone()
    }
    /// Forget the log.
    pub fn clear_log(&self) {
        self.inner.log.lock().expect("log").clear();
    }
    /// `(repository, digest)` of every blob upload that finished (`PUT …?digest=` answered
    /// 201), in order; a blob sent twice appears twice.
    pub fn uploaded_blobs(&self) -> Vec<(String, String)> {
        self.log()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.contains("/blobs/uploads/") && r.status == Some(201))
            .filter_map(|r| Some((r.repository()?, r.query_param("digest")?)))
            .collect()
    }
    /// `(repository, digest)` of every cross-repository mount that succeeded
    /// (`POST …/blobs/uploads/?mount=…` answered 201: no data sent).
    pub fn mounted_blobs(&self) -> Vec<(String, String)> {
        self.log()
            .iter()
            .filter(|r| r.method == "POST" && r.status == Some(201))
            .filter_map(|r| Some((r.repository()?, r.query_param("mount")?)))
            .collect()
    }
    /// Requests that got an injected fault.
    pub fn faults(&self) -> Vec<LoggedRequest> {
        self.log().into_iter().filter(|r| r.fault.is_some()).collect()
    }
    /// Go down now: stop accepting and cut every connection.
    pub fn go_down(&self) {
        self.inner.go_down();
    }
    /// Whether the proxy is down (by [`FaultProxy::go_down`] or a [`HttpFault::GoDown`] rule).
    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::SeqCst)
    }
    /// Listen again on the same port after going down (waits up to 5 s for the listener).
    pub fn come_back(&self) -> Result<()> {
        self.inner.down.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.inner.listening.load(Ordering::SeqCst) {
            if Instant::now() >= deadline {
                bail!("the proxy could not listen on 127.0.0.1:{} again (port taken?)", self.inner.port);
            }
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.inner.stop.store(true, Ordering::SeqCst);
        self.inner.cut_all();
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
        let workers: Vec<_> = std::mem::take(&mut *self.inner.workers.lock().expect("workers"));
        for w in workers {
            let _ = w.join();
        }
    }
}

fn accept_loop(inner: Arc<Inner>, listener: TcpListener) {
    let mut listener = Some(listener);
    while !inner.stop.load(Ordering::SeqCst) {
        let down = inner.down.load(Ordering::SeqCst);
        if down && listener.is_some() {
            listener = None; // connections are refused from now on
            inner.listening.store(false, Ordering::SeqCst);
        }
        if !down && listener.is_none() {
            match TcpListener::bind(("127.0.0.1", inner.port)) {
                Ok(l) => {
                    let _ = l.set_nonblocking(true);
                    listener = Some(l);
                    inner.listening.store(true, Ordering::SeqCst);
                }
                Err(_) => {
                    thread::sleep(Duration::from_millis(20));
                    continue;
                }
            }
        }
        let Some(l) = &listener else {
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        match l.accept() {
            Ok((stream, _)) => {
                let _ = stream.set_nonblocking(false);
                let id = inner.next_conn.fetch_add(1, Ordering::SeqCst);
                if let Ok(clone) = stream.try_clone() {
                    inner.conns.lock().expect("conns").push((id, clone));
                }
                let epoch = inner.epoch.load(Ordering::SeqCst);
                let worker_inner = inner.clone();
                let spawned = thread::Builder::new().name(format!("fault-proxy-{id}")).spawn(move || {
                    let _ = serve(&worker_inner, stream, epoch);
                    worker_inner.conns.lock().expect("conns").retain(|(i, _)| *i != id);
                });
                if let Ok(h) = spawned {
                    let mut workers = inner.workers.lock().expect("workers");
                    workers.retain(|w| !w.is_finished());
                    workers.push(h);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(Duration::from_millis(5)),
            Err(_) => thread::sleep(Duration::from_millis(5)),
        }
    }
}

/// A blocking read that polls the stop/down flags and gives up after [`IDLE_LIMIT`].
struct Patient<'a> {
    stream: &'a TcpStream,
    inner: &'a Inner,
    epoch: u64,
}

impl Read for Patient<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let _ = self.stream.set_read_timeout(Some(POLL));
        let start = Instant::now();
        loop {
            if self.inner.halted(self.epoch) {
                return Err(std::io::Error::new(ErrorKind::ConnectionAborted, "proxy stopped"));
            }
            match (&*self.stream).read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted) => {
                    if start.elapsed() >= IDLE_LIMIT {
                        return Err(std::io::Error::new(ErrorKind::TimedOut, "idle connection"));
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// A parsed request or response head, with its raw bytes.
struct Head {
    raw: Vec<u8>,
    first: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn chunked(&self) -> bool {
        self.header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
    fn content_length(&self) -> Option<u64> {
        self.header("content-length").and_then(|v| v.trim().parse().ok())
    }
    fn expects_continue(&self) -> bool {
        self.header("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }
    fn wants_close(&self) -> bool {
        self.header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// Read a head; `Ok(None)` on a clean EOF before any byte.
fn read_head(r: &mut impl BufRead) -> Result<Option<Head>> {
    let mut raw = Vec::new();
    let mut lines = Vec::new();
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line)?;
        if n == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            bail!("connection closed inside a head");
        }
        raw.extend_from_slice(&line);
        if raw.len() > MAX_HEAD {
            bail!("head larger than {MAX_HEAD} bytes");
        }
        let text = String::from_utf8_lossy(&line).trim_end_matches(['\r', '\n']).to_string();
        if text.is_empty() {
            if lines.is_empty() {
                raw.clear(); // tolerate stray CRLF between messages
                continue;
            }
            break;
        }
        lines.push(text);
    }
    let first = lines.remove(0);
    let headers = lines
        .iter()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_string(), v.trim().to_string())))
        .collect();
    Ok(Some(Head { raw, first, headers }))
}

/// Copy a message body (`chunked` raw, or `len` bytes) from `r` to `w` (or discard it when
/// `w` is `None`); returns the payload bytes.
fn copy_body(r: &mut impl BufRead, mut w: Option<&mut dyn Write>, chunked: bool, len: Option<u64>) -> Result<u64> {
    let mut total = 0u64;
    let put = |w: &mut Option<&mut dyn Write>, bytes: &[u8]| -> Result<()> {
        if let Some(w) = w.as_mut() {
            w.write_all(bytes)?;
        }
        Ok(())
    };
    if chunked {
        loop {
            let mut line = Vec::new();
            if r.read_until(b'\n', &mut line)? == 0 {
                bail!("connection closed inside a chunked body");
            }
            put(&mut w, &line)?;
            let text = String::from_utf8_lossy(&line);
            let size_text = text.trim().split(';').next().unwrap_or("").trim().to_string();
            let size = u64::from_str_radix(&size_text, 16).map_err(|_| anyhow!("bad chunk size {size_text:?}"))?;
            if size == 0 {
                // trailers up to the empty line
                loop {
                    let mut t = Vec::new();
                    if r.read_until(b'\n', &mut t)? == 0 {
                        bail!("connection closed inside chunk trailers");
                    }
                    put(&mut w, &t)?;
                    if t == b"\r\n" || t == b"\n" {
                        break;
                    }
                }
                break;
            }
            total += copy_exact(r, &mut w, size)?;
            let mut crlf = Vec::new();
            r.read_until(b'\n', &mut crlf)?;
            put(&mut w, &crlf)?;
        }
    } else if let Some(n) = len {
        total += copy_exact(r, &mut w, n)?;
    }
    if let Some(w) = w.as_mut() {
        w.flush()?;
    }
    Ok(total)
}

fn copy_exact(r: &mut impl BufRead, w: &mut Option<&mut dyn Write>, n: u64) -> Result<u64> {
    let mut left = n;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 {
        let want = buf.len().min(left as usize);
        let got = r.read(&mut buf[..want])?;
        if got == 0 {
            bail!("connection closed {left} bytes before the end of a body");
        }
        if let Some(w) = w.as_mut() {
            w.write_all(&buf[..got])?;
        }
        left -= got as u64;
    }
    Ok(n)
}

fn reason(code: u16) -> &'static str {
    match code {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Injected HttpFault",
    }
}

/// A distribution-style error response.
fn error_response(code: u16) -> Vec<u8> {
    let (errcode, message) = match code {
        401 => ("UNAUTHORIZED", "authentication required"),
        403 => ("DENIED", "requested access to the resource is denied"),
        429 => ("TOOMANYREQUESTS", "too many requests"),
        503 => ("UNAVAILABLE", "service unavailable"),
        _ => ("UNKNOWN", "unknown error"),
    };
    let body = format!("{{\"errors\":[{{\"code\":\"{errcode}\",\"message\":\"{message}\",\"detail\":\"injected by the kod-testlab fault proxy\"}}]}}\n");
    let mut head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json; charset=utf-8\r\nDocker-Distribution-Api-Version: registry/2.0\r\nContent-Length: {}\r\n",
        reason(code),
        body.len()
    );
    if code == 401 {
        head.push_str("WWW-Authenticate: Basic realm=\"kod-fault-proxy\"\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

/// Serve one client connection until it closes, the proxy stops or goes down.
fn serve(inner: &Inner, client: TcpStream, epoch: u64) -> Result<()> {
    let mut reader = BufReader::with_capacity(64 * 1024, Patient { stream: &client, inner, epoch });
    let mut writer = &client;
    // One registry connection per client connection, opened on the first forwarded request.
    let mut upstream_stream: Option<TcpStream> = None;
    // A TLS ClientHello (clients with TLS verification off try HTTPS first): answer like Go's
    // net/http does on a plain port, so the client falls back to HTTP at once.
    if reader.fill_buf()?.first() == Some(&0x16) {
        writer.write_all(b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    loop {
        let Some(req) = read_head(&mut reader)? else { return Ok(()) };
        let mut parts = req.first.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.clone(), String::new()),
        };
        let mut entry = LoggedRequest { method: method.clone(), path: path.clone(), query, status: None, body_bytes: 0, fault: None, at: inner.started.elapsed() };
        let body_len = if req.chunked() { None } else { req.content_length() };
        match inner.fault_for(&method, &path) {
            Some(fault) => {
                entry.fault = Some(fault.label());
                match fault {
                    HttpFault::Status(code) => {
                        // A client waiting for `100 Continue` sends no body: answer and close.
                        let expects = req.expects_continue();
                        if !expects {
                            entry.body_bytes = copy_body(&mut reader, None, req.chunked(), body_len)?;
                        }
                        writer.write_all(&error_response(code))?;
                        writer.flush()?;
                        entry.status = Some(code);
                        inner.record(entry);
                        if expects || req.wants_close() {
                            let _ = client.shutdown(Shutdown::Both);
                            return Ok(());
                        }
                        continue;
                    }
                    HttpFault::Stall(d) => {
                        inner.record(entry);
                        let until = Instant::now() + d;
                        while Instant::now() < until && !inner.halted(epoch) {
                            thread::sleep(Duration::from_millis(50));
                        }
                        let _ = client.shutdown(Shutdown::Both);
                        return Ok(());
                    }
                    HttpFault::DropConnection => {
                        inner.record(entry);
                        let _ = client.shutdown(Shutdown::Both);
                        return Ok(());
                    }
                    HttpFault::GoDown => {
                        inner.record(entry);
                        inner.go_down();
                        let _ = client.shutdown(Shutdown::Both);
                        return Ok(());
                    }
                }
            }
            None => {
                if upstream_stream.is_none() {
                    let s = TcpStream::connect(&inner.upstream).with_context(|| format!("connecting to {}", inner.upstream))?;
                    let _ = s.set_nodelay(true);
                    upstream_stream = Some(s);
                }
                let up = upstream_stream.as_ref().expect("upstream");
                let mut up_w = up;
                up_w.write_all(&req.raw)?;
                entry.body_bytes = copy_body(&mut reader, Some(&mut up_w), req.chunked(), body_len)?;
                let mut up_r = BufReader::with_capacity(64 * 1024, Patient { stream: up, inner, epoch });
                // interim 1xx answers are passed on
                let resp = loop {
                    let Some(h) = read_head(&mut up_r)? else { bail!("the registry closed the connection without answering") };
                    let code: u16 = h.first.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
                    if (100..200).contains(&code) && code != 101 {
                        writer.write_all(&h.raw)?;
                        continue;
                    }
                    break (h, code);
                };
                let (h, code) = resp;
                entry.status = Some(code);
                // Logged before the answer reaches the client: whoever reads the log after
                // its request returned sees the request in it.
                inner.record(entry);
                writer.write_all(&h.raw)?;
                let no_body = method == "HEAD" || (100..200).contains(&code) || code == 204 || code == 304;
                let mut close_after = req.wants_close() || h.wants_close();
                if !no_body {
                    if h.chunked() || h.content_length().is_some() {
                        copy_body(&mut up_r, Some(&mut writer), h.chunked(), h.content_length())?;
                    } else {
                        // body until the registry closes
                        std::io::copy(&mut up_r, &mut writer)?;
                        close_after = true;
                    }
                }
                writer.flush()?;
                if !up_r.buffer().is_empty() {
                    // the registry sent more than one answer: do not guess, start afresh
                    close_after = true;
                }
                drop(up_r);
                if close_after {
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryOptions;

    fn get(agent: &ureq::Agent, url: &str) -> std::result::Result<u16, String> {
        match agent.get(url).call() {
            Ok(r) => Ok(r.status()),
            Err(ureq::Error::Status(code, _)) => Ok(code),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn forwards_injects_goes_down_and_comes_back() {
        let registry = Registry::start(RegistryOptions::plain()).unwrap();
        let proxy = FaultProxy::start(&registry).unwrap();
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(5)).build();
        let url = format!("http://{}/v2/_catalog", proxy.host());
        proxy.arm(FaultRule::any(HttpFault::Status(503)).methods(&["GET"]).path_contains("/_catalog").nth(2));
        assert_eq!(get(&agent, &url), Ok(200));
        assert_eq!(get(&agent, &url), Ok(503));
        assert_eq!(get(&agent, &url), Ok(200));
        let statuses: Vec<_> = proxy.log().iter().map(|r| (r.method.clone(), r.path.clone(), r.status, r.fault.clone())).collect();
        assert_eq!(
            statuses,
            vec![
                ("GET".to_string(), "/v2/_catalog".to_string(), Some(200), None),
                ("GET".to_string(), "/v2/_catalog".to_string(), Some(503), Some("status 503".to_string())),
                ("GET".to_string(), "/v2/_catalog".to_string(), Some(200), None),
            ]
        );
        proxy.go_down();
        thread::sleep(Duration::from_millis(100));
        let refused = get(&agent, &url).unwrap_err();
        assert!(refused.to_lowercase().contains("refused"), "{refused}");
        proxy.come_back().unwrap();
        assert_eq!(get(&agent, &url), Ok(200));
        proxy.disarm();
        proxy.arm(FaultRule::any(HttpFault::Stall(Duration::from_secs(60))).path_contains("/v2/_catalog"));
        let quick = ureq::AgentBuilder::new().timeout(Duration::from_millis(500)).build();
        let start = Instant::now();
        assert!(get(&quick, &url).is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
        // Dropping the proxy ends the stall and joins every thread.
        let start = Instant::now();
        drop(proxy);
        assert!(start.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn query_params_and_repositories() {
        let r = LoggedRequest {
            method: "PUT".into(),
            path: "/v2/site/bitnami/redis/blobs/uploads/abc".into(),
            query: "_state=x&digest=sha256%3Aabcd".into(),
            status: Some(201),
            body_bytes: 0,
            fault: None,
            at: Duration::ZERO,
        };
        assert_eq!(r.query_param("digest").as_deref(), Some("sha256:abcd"));
        assert_eq!(r.repository().as_deref(), Some("site/bitnami/redis"));
    }
}
