//! A classic (index.yaml) helm chart repository served over loopback HTTP.

use crate::helm::{ChartSpec, Helm};
use anyhow::{anyhow, Context, Result};
use base64::Engine as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Serves a directory on `http://127.0.0.1:<ephemeral>` with `tiny_http` in a
/// background thread (stopped and joined on drop). On creation (after the port
/// is bound) it runs `helm repo index DIR --url http://127.0.0.1:PORT`.
pub struct ChartRepo {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    port: u16,
    dir: PathBuf,
    auth: Option<(String, String)>,
    requests: Arc<Mutex<Vec<String>>>,
    helm: Helm,
    _owned: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for ChartRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChartRepo")
            .field("url", &self.url())
            .field("dir", &self.dir)
            .finish()
    }
}

impl ChartRepo {
    /// Serve `dir` (must contain the chart `.tgz` files) without auth.
    pub fn new(dir: impl AsRef<Path>) -> Result<ChartRepo> {
        Self::serve(dir.as_ref(), None, None)
    }

    /// Serve `dir` requiring HTTP basic auth.
    pub fn with_auth(dir: impl AsRef<Path>, user: &str, password: &str) -> Result<ChartRepo> {
        Self::serve(
            dir.as_ref(),
            Some((user.to_string(), password.to_string())),
            None,
        )
    }

    /// Package `charts` into a fresh temp dir and serve it.
    pub fn from_charts(charts: &[ChartSpec]) -> Result<ChartRepo> {
        let t = tempfile::Builder::new()
            .prefix("kod-lab-charts-")
            .tempdir()?;
        let helm = Helm::new()?;
        let src = t.path().join("src");
        let repo = t.path().join("repo");
        for c in charts {
            c.package(&helm, &src, &repo)?;
        }
        let dir = repo.clone();
        Self::serve(&dir, None, Some(t))
    }

    fn serve(
        dir: &Path,
        auth: Option<(String, String)>,
        owned: Option<tempfile::TempDir>,
    ) -> Result<ChartRepo> {
        let dir = dir
            .canonicalize()
            .with_context(|| format!("chart repo dir {}", dir.display()))?;
        let server = Arc::new(
            tiny_http::Server::http("127.0.0.1:0").map_err(|e| anyhow!("bind chart repo: {e}"))?,
        );
        let port = server
            .server_addr()
            .to_ip()
            .context("not an IP listener")?
            .port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let server = server.clone();
            let dir = dir.clone();
            let auth = auth.clone();
            let requests = requests.clone();
            std::thread::Builder::new()
                .name(format!("kod-lab-chartrepo-{port}"))
                .spawn(move || serve_loop(&server, &dir, auth.as_ref(), &requests))?
        };
        let repo = ChartRepo {
            server,
            thread: Some(thread),
            port,
            dir,
            auth,
            requests,
            helm: Helm::new()?,
            _owned: owned,
        };
        repo.reindex()?;
        Ok(repo)
    }

    /// Re-run `helm repo index` (after adding `.tgz` files to the directory).
    pub fn reindex(&self) -> Result<()> {
        self.helm
            .run_ok(&[
                "repo",
                "index",
                &self.dir.display().to_string(),
                "--url",
                &self.url(),
            ])
            .map(|_| ())
    }

    /// Package `chart` into the served directory and re-index; returns the `.tgz`.
    pub fn add_chart(&self, chart: &ChartSpec) -> Result<PathBuf> {
        let work = tempfile::tempdir()?;
        let tgz = chart.package(&self.helm, work.path(), &self.dir)?;
        self.reindex()?;
        Ok(tgz)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    /// TCP port.
    pub fn port(&self) -> u16 {
        self.port
    }
    /// Served directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    /// Basic-auth user, if any.
    pub fn username(&self) -> Option<&str> {
        self.auth.as_ref().map(|a| a.0.as_str())
    }
    /// Basic-auth password, if any.
    pub fn password(&self) -> Option<&str> {
        self.auth.as_ref().map(|a| a.1.as_str())
    }
    /// Paths requested so far (`"GET /index.yaml 200"` …), for assertions.
    pub fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
    /// The isolated helm used for indexing (handy for `helm pull --repo`).
    pub fn helm(&self) -> &Helm {
        &self.helm
    }
}

impl Drop for ChartRepo {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_loop(
    server: &tiny_http::Server,
    dir: &Path,
    auth: Option<&(String, String)>,
    log: &Mutex<Vec<String>>,
) {
    // `incoming_requests` ends when `unblock()` is called.
    for req in server.incoming_requests() {
        let (code, resp) = respond(&req, dir, auth);
        log.lock()
            .unwrap()
            .push(format!("{} {} {}", req.method(), req.url(), code));
        let _ = req.respond(resp);
    }
}

fn respond(
    req: &tiny_http::Request,
    dir: &Path,
    auth: Option<&(String, String)>,
) -> (u16, tiny_http::Response<std::io::Cursor<Vec<u8>>>) {
    use tiny_http::{Header, Method, Response};
    let text = |code: u16, s: &str| {
        (
            code,
            Response::from_data(s.as_bytes().to_vec()).with_status_code(code),
        )
    };
    if let Some((u, p)) = auth {
        let want = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"))
        );
        let ok = req
            .headers()
            .iter()
            .any(|h| h.field.equiv("Authorization") && h.value.as_str() == want);
        if !ok {
            let (c, r) = text(401, "unauthorized\n");
            let r = r.with_header(
                Header::from_bytes("WWW-Authenticate", "Basic realm=\"kod-testlab\"").unwrap(),
            );
            return (c, r);
        }
    }
    if *req.method() != Method::Get && *req.method() != Method::Head {
        return text(405, "method not allowed\n");
    }
    let path = req.url().split('?').next().unwrap_or("/");
    let rel = path.trim_start_matches('/');
    if rel.is_empty()
        || rel
            .split('/')
            .any(|s| s == ".." || s.is_empty() || s == ".")
    {
        return text(404, "not found\n");
    }
    let file = dir.join(rel);
    match std::fs::read(&file) {
        Ok(bytes) if file.is_file() => {
            let ct = if rel.ends_with(".yaml") {
                "application/x-yaml"
            } else if rel.ends_with(".tgz") {
                "application/gzip"
            } else {
                "application/octet-stream"
            };
            (
                200,
                Response::from_data(bytes)
                    .with_header(Header::from_bytes("Content-Type", ct).unwrap()),
            )
        }
        _ => text(404, "not found\n"),
    }
}
