//! Writing a bundle: one pass, streaming, atomic.
//!
//! The manifest (with every file's sha256) goes first, so every file's checksum must be
//! known before the tar is written: small files are hashed up front; blobs are named by
//! their digest and re-hashed while they are copied into the tar — a blob whose bytes do not
//! match its name aborts the write. Memory does not grow with the bundle: every file is
//! streamed through a fixed buffer. The tar is written to a hidden partial file next to the
//! output and renamed into place only when complete and synced, so an interrupted package
//! never leaves a file that looks like a bundle.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use super::format::{FileEntry, Manifest, MANIFEST_NAME};

/// A file to put into the bundle.
#[derive(Clone, Debug)]
pub struct StagedFile {
    /// Path inside the bundle (`charts/x-1.0.0.tgz`).
    pub path: String,
    /// Where it is on disk.
    pub source: PathBuf,
    /// Its sha256 when already known (blobs: from their name); checked while writing.
    pub sha256: Option<String>,
}

/// What a write produced.
#[derive(Clone, Debug)]
pub struct Written {
    pub path: PathBuf,
    pub bytes: u64,
    pub files: usize,
}

/// A reader that hashes what passes through it.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
}

/// sha256 (hex) and size of a file, streamed.
pub fn hash_file(path: &Path) -> Result<(String, u64)> {
    let f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut r = HashingReader { inner: std::io::BufReader::with_capacity(1 << 20, f), hasher: Sha256::new(), bytes: 0 };
    std::io::copy(&mut r, &mut std::io::sink()).with_context(|| format!("reading {}", path.display()))?;
    Ok((hex::encode(r.hasher.finalize()), r.bytes))
}

/// The hidden partial file a write to `out` uses.
pub fn partial_path(out: &Path) -> PathBuf {
    let name = out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| "bundle".into());
    out.with_file_name(format!(".{name}.kod-partial-{}", std::process::id()))
}

/// Remove partial files left by interrupted writes of `out` (any process id).
pub fn remove_stale_partials(out: &Path) -> Result<usize> {
    let dir = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name = out.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
    let prefix = format!(".{name}.kod-partial-");
    let mut removed = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                std::fs::remove_file(e.path()).with_context(|| format!("removing stale {}", e.path().display()))?;
                removed += 1;
            }
        }
    }
    Ok(removed)
}

/// Fill `manifest.files` (hashing what is not known yet) and return the entries in order.
pub fn prepare(manifest: &mut Manifest, files: &[StagedFile]) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    let mut dirs = std::collections::BTreeSet::new();
    manifest.files.clear();
    for f in files {
        super::check_entry_path(&f.path)?;
        if let Some(problem) = super::file_dir_conflict(&f.path, &seen, &dirs) {
            bail!("{problem}");
        }
        if f.path == MANIFEST_NAME || !seen.insert(f.path.clone()) {
            bail!("bundle entry {:?} is staged twice", f.path);
        }
        super::add_dirs(&f.path, &mut dirs);
        let size = std::fs::metadata(&f.source).with_context(|| format!("{} (for {})", f.source.display(), f.path))?.len();
        let sha = match &f.sha256 {
            Some(s) => s.clone(),
            None => hash_file(&f.source)?.0,
        };
        manifest.files.push(FileEntry { path: f.path.clone(), sha256: sha, size });
    }
    manifest.totals.file_bytes = manifest.files.iter().map(|f| f.size).sum();
    Ok(())
}

/// The smallest size the bundle's tar can have: the manifest and every file, each with its
/// 512-byte header and padded to 512 bytes, and the two closing zero blocks. (Long names add
/// header blocks, so the real size can only be larger.)
pub fn min_bundle_size(manifest: &Manifest) -> Result<u64> {
    let pad = |n: u64| n.div_ceil(512) * 512;
    let json = serde_json::to_vec_pretty(manifest)?.len() as u64;
    Ok(512 + pad(json) + manifest.files.iter().map(|f| 512 + pad(f.size)).sum::<u64>() + 1024)
}

/// Bytes an unprivileged process may still write on the file system holding `dir`.
#[cfg(unix)]
pub fn available_space(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a zeroed statvfs buffer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return None;
    }
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(not(unix))]
pub fn available_space(_dir: &Path) -> Option<u64> {
    None
}

fn out_dir(out: &Path) -> &Path {
    out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Refuse to start a write that cannot fit: the bundle's smallest possible size against the
/// free space where `out` goes. Nothing is written either way.
pub fn check_space(out: &Path, manifest: &Manifest) -> Result<()> {
    let dir = out_dir(out);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let need = min_bundle_size(manifest)?;
    if let Some(free) = available_space(dir) {
        if free < need {
            bail!(
                "not enough space for the bundle {} (no space left on device): it needs at least {}, {} has {} free; nothing was written — free some space or write the bundle elsewhere with -o (the work directory keeps everything fetched, so the next run only writes the bundle)",
                out.display(),
                super::human_size(need),
                dir.display(),
                super::human_size(free)
            );
        }
    }
    Ok(())
}

/// Whether `err` comes from a full file system (ENOSPC, or EDQUOT: a quota).
pub fn is_disk_full(err: &anyhow::Error) -> bool {
    err.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| {
            matches!(e.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
                || matches!(e.raw_os_error(), Some(28) | Some(122))
        })
    })
}

/// Write the bundle to `out` atomically. `progress` is called with the bytes written so far.
/// On any failure the partial file is removed; a full disk is named as such, with the path.
pub fn write(out: &Path, manifest: &Manifest, files: &[StagedFile], progress: &dyn Fn(u64)) -> Result<Written> {
    if manifest.files.len() != files.len() {
        bail!("internal: manifest lists {} files but {} are staged (call prepare first)", manifest.files.len(), files.len());
    }
    if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    remove_stale_partials(out)?;
    let partial = partial_path(out);
    let result = write_partial(&partial, manifest, files, progress);
    match result {
        Ok(bytes) => {
            std::fs::rename(&partial, out).with_context(|| format!("renaming {} to {}", partial.display(), out.display()))?;
            if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
                if let Ok(d) = File::open(dir) {
                    let _ = d.sync_all();
                }
            }
            Ok(Written { path: out.to_path_buf(), bytes, files: files.len() + 1 })
        }
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            if is_disk_full(&e) {
                let free = available_space(out_dir(out)).map(|f| format!(", {} free now", super::human_size(f))).unwrap_or_default();
                return Err(e.context(format!(
                    "no space left on device writing the bundle {} (it needs at least {}{free}); the partial file {} was removed — free some space or write the bundle elsewhere with -o",
                    out.display(),
                    super::human_size(min_bundle_size(manifest).unwrap_or(0)),
                    partial.display()
                )));
            }
            Err(e)
        }
    }
}

fn header(size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

fn write_partial(partial: &Path, manifest: &Manifest, files: &[StagedFile], progress: &dyn Fn(u64)) -> Result<u64> {
    let file = File::create(partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, file));
    let mtime = chrono::DateTime::parse_from_rfc3339(&manifest.created_at).map(|t| t.timestamp().max(0) as u64).unwrap_or(0);
    let json = serde_json::to_vec_pretty(manifest)?;
    let mut h = header(json.len() as u64, mtime);
    builder.append_data(&mut h, MANIFEST_NAME, json.as_slice()).context("writing the manifest")?;
    let mut written = json.len() as u64;
    for (f, entry) in files.iter().zip(&manifest.files) {
        let src = File::open(&f.source).with_context(|| format!("opening {} (for {})", f.source.display(), f.path))?;
        let len = src.metadata()?.len();
        if len != entry.size {
            bail!("{} changed size while the bundle was written ({} → {len} bytes)", f.source.display(), entry.size);
        }
        let mut reader = HashingReader { inner: std::io::BufReader::with_capacity(1 << 20, src), hasher: Sha256::new(), bytes: 0 };
        let mut h = header(len, mtime);
        builder.append_data(&mut h, &f.path, &mut reader).with_context(|| format!("writing {}", f.path))?;
        let actual = hex::encode(reader.hasher.finalize());
        if actual != entry.sha256 {
            return Err(anyhow!(
                "{} ({}) does not match its checksum: expected sha256:{}, read sha256:{actual} — the work directory is corrupt; re-run package to fetch it again",
                f.path,
                f.source.display(),
                entry.sha256
            ));
        }
        written += len;
        progress(written);
    }
    let mut inner = builder.into_inner().context("finishing the tar")?;
    inner.flush()?;
    let file = inner.into_inner().map_err(|e| anyhow!("flushing the bundle: {}", e.error()))?;
    file.sync_all().context("syncing the bundle to disk")?;
    Ok(file.metadata()?.len())
}
