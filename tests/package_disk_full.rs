//! A full disk while packaging: the bundle's destination is a size-capped file system (a
//! 2 MiB tmpfs, or a loop-mounted ext2 image where tmpfs cannot be mounted; skipped with the
//! reason printed when neither can, e.g. without root). kod must name the path and the lack
//! of space, leave nothing at the destination, and keep the work directory good for the next
//! run into a larger destination.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use kod::bundle::assemble::{assemble, Contents};
use kod::bundle::write;
use kod::image::fetch::{fetch_all, FetchOptions, Platforms};
use kod::image::reference::parse_normalized_named;
use kod_testlab::{ChartSpec, ImageSpec, LayerSpec, PublicRegistry, Tools};

/// The capacity of the small file system; the bundles here are about 3.3 MiB.
const SMALL: u64 = 2 * 1024 * 1024;

/// A small file system mounted on a directory; unmounted (and its image removed) on drop.
struct SmallFs {
    dir: PathBuf,
    image: Option<PathBuf>,
}

impl SmallFs {
    /// [`SmallFs::mount`], or `None` after saying on stderr why the test is skipped.
    fn mount_or_skip(dir: &Path) -> Option<SmallFs> {
        SmallFs::mount(dir).map_err(|reason| eprintln!("SKIPPED: {reason}")).ok()
    }

    /// Mount a `SMALL`-byte file system on `dir`: tmpfs, else an ext2 image on a loop
    /// device. `Err(reason)` when neither is possible here.
    fn mount(dir: &Path) -> Result<SmallFs, String> {
        std::fs::create_dir_all(dir).unwrap();
        let tmpfs = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={SMALL}"), "kod-disk-full"]).arg(dir).output();
        match tmpfs {
            Ok(o) if o.status.success() => return Ok(SmallFs { dir: dir.to_path_buf(), image: None }),
            Ok(o) => eprintln!("tmpfs: {}", String::from_utf8_lossy(&o.stderr).trim()),
            Err(e) => eprintln!("tmpfs: {e}"),
        }
        let image = dir.with_extension("img");
        let steps: [(&str, Vec<String>); 3] = [
            ("truncate", vec!["-s".into(), SMALL.to_string(), image.display().to_string()]),
            ("mkfs.ext2", vec!["-q".into(), "-F".into(), "-m".into(), "0".into(), image.display().to_string()]),
            ("mount", vec!["-o".into(), "loop".into(), image.display().to_string(), dir.display().to_string()]),
        ];
        for (program, args) in steps {
            match Command::new(program).args(&args).output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => {
                    let _ = std::fs::remove_file(&image);
                    return Err(format!("cannot mount a small file system (tmpfs failed; {program}: {})", String::from_utf8_lossy(&o.stderr).trim()));
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&image);
                    return Err(format!("cannot mount a small file system (tmpfs failed; {program}: {e})"));
                }
            }
        }
        let _ = std::fs::remove_dir(dir.join("lost+found"));
        Ok(SmallFs { dir: dir.to_path_buf(), image: Some(image) })
    }

    fn entries(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(&self.dir).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).filter(|n| n != "lost+found").collect();
        v.sort();
        v
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let ok = Command::new("umount").arg(&self.dir).status().is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
        if let Some(img) = &self.image {
            let _ = std::fs::remove_file(img);
        }
    }
}

/// Three images (a shared 256 KiB base, an own 1 MiB layer each; incompressible).
fn images() -> Vec<ImageSpec> {
    ["docker.io/bitnami/redis:7.2.4", "docker.io/bitnami/postgresql:16.3.0", "ghcr.io/example/app:1.0.0"]
        .iter()
        .map(|n| ImageSpec::new(n).layers(vec![LayerSpec::base_sized("debian-12", 256 * 1024), LayerSpec::own_salted(1024 * 1024, n)]))
        .collect()
}

/// A helmfile project with one local chart running every image.
fn project(dir: &Path, specs: &[ImageSpec]) {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let chart = ChartSpec::running_images("platform", "1.0.0", &names);
    chart.write_to(&dir.join("charts")).unwrap();
    std::fs::write(dir.join("helmfile.yaml"), "releases:\n- name: platform\n  namespace: platform\n  chart: ./charts/platform\n").unwrap();
}

fn kod(project: &Path) -> assert_cmd::Command {
    let tools = Tools::find().unwrap();
    let mut c = assert_cmd::Command::cargo_bin("kod").unwrap();
    c.current_dir(project).env("KOD_HELM", &tools.helm).env("KOD_SKOPEO", &tools.skopeo).env("KOD_HELMFILE", Tools::helmfile().unwrap());
    c
}

fn package_args(public: &PublicRegistry, workdir: &Path, out: &Path) -> Vec<String> {
    let mut v: Vec<String> = ["--no-progress", "helmfile", "package", "--workdir"].iter().map(|s| s.to_string()).collect();
    v.push(workdir.display().to_string());
    v.extend(["-o".to_string(), out.display().to_string(), "--source-registries-conf".into(), public.registries_conf().display().to_string()]);
    v
}

/// The `skopeo … copy` commands kod echoed.
fn copies(stderr: &str) -> usize {
    stderr.lines().filter(|l| l.starts_with("+ skopeo ") && l.contains(" copy ")).count()
}

/// `kod helmfile package -o` onto a 2 MiB file system for a 3.3 MiB bundle: exit 1 with one
/// error naming the bundle path, "no space left on device", what it needs and what is free;
/// nothing at all on the small file system; then the same command into a larger destination
/// completes from the work directory without fetching any image again.
#[test]
fn package_onto_a_full_disk_names_the_path_leaves_nothing_and_the_next_run_completes() {
    let work = tempfile::tempdir().unwrap();
    let Some(small) = SmallFs::mount_or_skip(&work.path().join("small")) else { return };
    let specs = images();
    let public = PublicRegistry::start_with_images(&specs).unwrap();
    let proj = work.path().join("project");
    project(&proj, &specs);
    let workdir = work.path().join("kod-work");
    let out = small.dir.join("platform.kod.tar");

    let failed = kod(&proj).args(package_args(&public, &workdir, &out)).output().unwrap();
    let stderr = String::from_utf8_lossy(&failed.stderr).to_string();
    assert_eq!(failed.status.code(), Some(1), "{stderr}");
    let error = stderr.lines().find(|l| l.starts_with("kod: error: ")).unwrap_or_else(|| panic!("{stderr}"));
    let prefix = format!("kod: error: not enough space for the bundle {} (no space left on device): it needs at least 3.", out.display());
    assert!(error.starts_with(&prefix), "{error}");
    assert!(error.contains(&format!(" MiB, {} has ", small.dir.display())), "{error}");
    assert!(error.contains("free; nothing was written — free some space or write the bundle elsewhere with -o"), "{error}");
    assert_eq!(small.entries(), Vec::<String>::new(), "nothing may be left on the full file system");
    assert_eq!(copies(&stderr), 3, "the images were fetched before the write: {stderr}");

    // The next run, into a larger destination, only writes the bundle.
    let big = work.path().join("big/platform.kod.tar");
    let again = kod(&proj).args(package_args(&public, &workdir, &big)).output().unwrap();
    let stderr = String::from_utf8_lossy(&again.stderr).to_string();
    assert_eq!(again.status.code(), Some(0), "{stderr}");
    assert_eq!(copies(&stderr), 0, "the work directory was not reused: {stderr}");
    kod(&proj).args(["bundle", "verify"]).arg(&big).assert().success();
    let manifest = kod::bundle::read::read_manifest(&big).unwrap();
    assert_eq!(manifest.images.len(), 3);
    let size = std::fs::metadata(&big).unwrap().len();
    let min = write::min_bundle_size(&manifest).unwrap();
    assert!(min <= size && size - min < 64 * 1024, "estimate {min} vs {size}");
    assert!(min > SMALL, "the bundle must not fit the small file system");
    assert_eq!(small.entries(), Vec::<String>::new());
}

/// The disk fills up in the middle of the write itself (the library's `write`, which has no
/// space check of its own, onto the 2 MiB file system): the error names the bundle path, "no
/// space left on device" and the partial file it removed; the file system is left empty; the
/// same staged files then write a good bundle elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn the_disk_filling_up_mid_write_removes_the_partial_bundle() {
    let work = tempfile::tempdir().unwrap();
    let Some(small) = SmallFs::mount_or_skip(&work.path().join("small")) else { return };
    let specs = images();
    let public = PublicRegistry::start_with_images(&specs).unwrap();
    let r = common::lab_runner();
    let refs: Vec<_> = specs.iter().map(|s| parse_normalized_named(&s.name).unwrap()).collect();
    let fopts = FetchOptions {
        dir: work.path().join("images"),
        platforms: Platforms::Some(vec!["linux/amd64".into()]),
        registries_conf: Some(public.registries_conf()),
        concurrency: 2,
        retry_times: 1,
    };
    let fetched = fetch_all(&r, &refs, &fopts, &|_| {}).await.unwrap();
    let contents = Contents { environments: vec!["default".into()], images: fetched, images_dir: work.path().join("images"), ..Default::default() };
    let (mut manifest, staged) = assemble(&contents, "t", "2026-01-01T00:00:00Z", &work.path().join("staging")).unwrap();
    write::prepare(&mut manifest, &staged).unwrap();
    assert!(write::check_space(&small.dir.join("x.kod.tar"), &manifest).is_err(), "the space check sees it cannot fit");

    let out = small.dir.join("platform.kod.tar");
    let err = write::write(&out, &manifest, &staged, &|_| {}).unwrap_err();
    let text = format!("{err:#}");
    assert!(write::is_disk_full(&err), "{text}");
    assert!(text.starts_with(&format!("no space left on device writing the bundle {} (it needs at least 3.", out.display())), "{text}");
    assert!(text.contains(&format!("); the partial file {}/.platform.kod.tar.kod-partial-{} was removed — free some space or write the bundle elsewhere with -o: ", small.dir.display(), std::process::id())), "{text}");
    assert!(text.ends_with("No space left on device (os error 28)"), "{text}");
    assert_eq!(small.entries(), Vec::<String>::new(), "the partial bundle must be removed");

    let good = work.path().join("good.kod.tar");
    write::write(&good, &manifest, &staged, &|_| {}).unwrap();
    let (_, report) = kod::bundle::read::verify(&good).unwrap();
    assert!(report.ok, "{:?}", report.problems);
}
