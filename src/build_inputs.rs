//! The inputs of one image's build, as one digest: what `docker build`
//! reads to make the image, so that the same digest means the engine would
//! make the same image from its build cache (README, "Images").
//!
//! Hashed: the platform, the target, the build args, the Dockerfile's and
//! the `.dockerignore`'s bytes, and every entry of the context that Docker
//! sends (`dockerignore`): its path, kind, permission bits, and a file's
//! content or a link's target. Not hashed: modification times, which
//! Docker's build cache does not look at either (Docker docs, "Build cache
//! invalidation": "The modification time of a file (mtime) is not taken into
//! account"), and owners, which COPY and ADD replace by root's unless told
//! otherwise in the Dockerfile (hashed). The images the Dockerfile starts or copies
//! from (`dockerfile`) are named here; their ids in the local engine are
//! added by the caller ([`Pending::finish`]), as only the engine knows them.
//!
//! Anything this cannot be sure of (a special file, an unreadable one, a
//! name that is not UTF-8, a Dockerfile feature not modelled) gives "cannot
//! tell", with why: the image is then built as always.

pub mod dockerfile;
pub mod dockerignore;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use dockerignore::Patterns;

/// Raise when what is hashed changes, so that no old digest matches.
const SCHEME: &str = "stackup build inputs 1";

/// What one build is asked to do.
pub struct BuildRequest<'a> {
    pub context: &'a Path,
    pub dockerfile: &'a Path,
    pub target: Option<&'a str>,
    pub args: &'a BTreeMap<String, String>,
    /// `os/arch`.
    pub platform: &'a str,
}

/// The hash of everything but the base images' ids, and those images' names.
pub struct Pending {
    hasher: Sha256,
    /// The images the Dockerfile builds from, as it names them.
    pub base_images: Vec<String>,
}

impl Pending {
    /// The inputs' digest (64 hex digits), given the local id of each of
    /// [`Pending::base_images`], in their order.
    pub fn finish(mut self, base_image_ids: &[String]) -> String {
        for (name, id) in self.base_images.iter().zip(base_image_ids) {
            field(&mut self.hasher, "base image", name.as_bytes());
            field(&mut self.hasher, "id", id.as_bytes());
        }
        hex(&self.hasher.finalize())
    }
}

/// Read and hash a build's inputs (blocking: files are read).
pub fn hash(request: &BuildRequest) -> Result<Pending, String> {
    let dockerfile = std::fs::read(request.dockerfile)
        .map_err(|error| format!("cannot read {}: {error}", request.dockerfile.display()))?;
    let dockerfile_text = String::from_utf8(dockerfile.clone())
        .map_err(|_| format!("{} is not UTF-8", request.dockerfile.display()))?;
    let base_images = dockerfile::base_images(&dockerfile_text, request.args)?;
    // BuildKit reads `<Dockerfile>.dockerignore` instead of the context's
    // (Docker reference, "Build context"); the classic builder does not.
    let mut own_ignore = request.dockerfile.as_os_str().to_owned();
    own_ignore.push(".dockerignore");
    if Path::new(&own_ignore).exists() {
        return Err(format!(
            "{} exists, and only BuildKit reads it",
            Path::new(&own_ignore).display()
        ));
    }
    let ignore_path = request.context.join(".dockerignore");
    let ignore = match std::fs::read(&ignore_path) {
        Ok(bytes) => Some(bytes),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => return Err(format!("cannot read {}: {error}", ignore_path.display())),
    };
    let patterns = Patterns::parse(&String::from_utf8_lossy(
        ignore.as_deref().unwrap_or_default(),
    ));

    let mut hasher = Sha256::new();
    field(&mut hasher, "scheme", SCHEME.as_bytes());
    field(&mut hasher, "platform", request.platform.as_bytes());
    field(
        &mut hasher,
        "target",
        request.target.unwrap_or_default().as_bytes(),
    );
    for (name, value) in request.args {
        field(&mut hasher, "arg", name.as_bytes());
        field(&mut hasher, "value", value.as_bytes());
    }
    field(&mut hasher, "dockerfile", &Sha256::digest(&dockerfile));
    match &ignore {
        Some(bytes) => field(&mut hasher, "dockerignore", &Sha256::digest(bytes)),
        None => field(&mut hasher, "no dockerignore", b""),
    }
    walk(request.context, "", &patterns, &mut hasher)?;
    Ok(Pending {
        hasher,
        base_images,
    })
}

/// Hash the entries under `dir` (its path relative to the context is
/// `prefix`) that Docker sends, in name order; whether any was hashed.
fn walk(
    dir: &Path,
    prefix: &str,
    patterns: &Patterns,
    hasher: &mut Sha256,
) -> Result<bool, String> {
    let mut entries: Vec<(String, std::path::PathBuf)> = Vec::new();
    for entry in
        std::fs::read_dir(dir).map_err(|error| format!("cannot list {}: {error}", dir.display()))?
    {
        let entry = entry.map_err(|error| format!("cannot list {}: {error}", dir.display()))?;
        let name = entry
            .file_name()
            .into_string()
            .map_err(|name| format!("{} is not a UTF-8 name", dir.join(name).display()))?;
        entries.push((name, entry.path()));
    }
    entries.sort();
    let mut any = false;
    for (name, path) in entries {
        let relative = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let excluded = patterns.excludes(&relative);
        let metadata = std::fs::symlink_metadata(&path)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        let kind = metadata.file_type();
        if kind.is_dir() {
            if excluded && !patterns.has_exceptions() {
                continue;
            }
            // Hashed whether or not it turns out to hold anything sent: a
            // directory left out but holding a file kept by an exception is
            // sent too (as that file's parent).
            let mut below = Sha256::new();
            let holds = walk(&path, &relative, patterns, &mut below)?;
            if !excluded || holds {
                entry_header(hasher, &relative, "dir", &metadata);
                field(hasher, "below", &below.finalize());
                any = true;
            }
            continue;
        }
        if excluded {
            continue;
        }
        if kind.is_symlink() {
            let target = std::fs::read_link(&path)
                .map_err(|error| format!("cannot read the link {}: {error}", path.display()))?;
            entry_header(hasher, &relative, "link", &metadata);
            field(hasher, "target", target.as_os_str().as_encoded_bytes());
        } else if kind.is_file() {
            entry_header(hasher, &relative, "file", &metadata);
            field(hasher, "content", &file_digest(&path)?);
        } else {
            return Err(format!(
                "{} is neither a file, a directory nor a link",
                path.display()
            ));
        }
        any = true;
    }
    Ok(any)
}

fn file_digest(path: &Path) -> Result<Vec<u8>, String> {
    let mut file = std::fs::File::open(path)
        .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 256 * 1024];
    loop {
        let read = file
            .read(&mut buffer)
            .map_err(|error| format!("cannot read {}: {error}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hasher.finalize().to_vec())
}

fn entry_header(hasher: &mut Sha256, relative: &str, kind: &str, metadata: &std::fs::Metadata) {
    field(hasher, "path", relative.as_bytes());
    field(hasher, "kind", kind.as_bytes());
    field(hasher, "mode", permissions(metadata).to_string().as_bytes());
}

#[cfg(unix)]
fn permissions(metadata: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    metadata.permissions().mode() & 0o7777
}

#[cfg(not(unix))]
fn permissions(metadata: &std::fs::Metadata) -> u32 {
    u32::from(metadata.permissions().readonly())
}

/// A named, length-prefixed value: no two different inputs hash alike.
fn field(hasher: &mut Sha256, name: &str, value: &[u8]) {
    hasher.update(name.as_bytes());
    hasher.update([0]);
    hasher.update((value.len() as u64).to_le_bytes());
    hasher.update(value);
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Project {
        dir: tempfile::TempDir,
        args: BTreeMap<String, String>,
        target: Option<String>,
        platform: String,
    }

    impl Project {
        fn new() -> Project {
            let dir = tempfile::tempdir().expect("temporary directory");
            std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\nCOPY . /\n")
                .expect("write");
            std::fs::create_dir(dir.path().join("lib")).expect("mkdir");
            std::fs::write(dir.path().join("lib/app.ex"), "defmodule App do end\n").expect("write");
            Project {
                dir,
                args: BTreeMap::new(),
                target: None,
                platform: "linux/amd64".to_string(),
            }
        }

        fn write(&self, path: &str, text: &str) {
            let path = self.dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        }

        fn digest(&self) -> String {
            let dockerfile = self.dir.path().join("Dockerfile");
            let pending = hash(&BuildRequest {
                context: self.dir.path(),
                dockerfile: &dockerfile,
                target: self.target.as_deref(),
                args: &self.args,
                platform: &self.platform,
            })
            .expect("hashable");
            pending.finish(&[])
        }
    }

    #[test]
    fn the_same_inputs_give_the_same_digest_and_every_input_counts() {
        let mut project = Project::new();
        let first = project.digest();
        assert_eq!(first.len(), 64);
        assert_eq!(project.digest(), first);

        project.write("lib/app.ex", "defmodule App do def x, do: 1 end\n");
        let changed_file = project.digest();
        assert_ne!(changed_file, first);

        project.write("priv/new.txt", "");
        let new_file = project.digest();
        assert_ne!(new_file, changed_file);

        project.args.insert("MIX_ENV".into(), "prod".into());
        let with_arg = project.digest();
        assert_ne!(with_arg, new_file);
        project.args.insert("MIX_ENV".into(), "dev".into());
        assert_ne!(project.digest(), with_arg);

        let before_target = project.digest();
        project.target = Some("release".into());
        assert_ne!(project.digest(), before_target);

        let before_platform = project.digest();
        project.platform = "linux/arm64".into();
        assert_ne!(project.digest(), before_platform);

        let before_dockerfile = project.digest();
        project.write("Dockerfile", "FROM scratch\nCOPY lib /lib\n");
        assert_ne!(project.digest(), before_dockerfile);
    }

    #[cfg(unix)]
    #[test]
    fn permissions_count_and_modification_times_do_not() {
        use std::os::unix::fs::PermissionsExt;
        let project = Project::new();
        let first = project.digest();
        let file = project.dir.path().join("lib/app.ex");
        let text = std::fs::read(&file).expect("read");
        std::fs::write(&file, text).expect("rewrite");
        assert_eq!(project.digest(), first, "a new mtime is no new input");
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        assert_ne!(project.digest(), first, "an executable bit is");
    }

    #[test]
    fn files_docker_ignores_do_not_count_and_the_dockerignore_does() {
        let project = Project::new();
        project.write(".dockerignore", "_build\n*.log\n");
        let first = project.digest();
        project.write("_build/prod/app.beam", "compiled");
        project.write("debug.log", "noise");
        assert_eq!(project.digest(), first);
        project.write("lib/debug.log", "not ignored: *.log is at the top only");
        assert_ne!(project.digest(), first);
        let second = project.digest();
        project.write(".dockerignore", "_build\n");
        assert_ne!(project.digest(), second);
    }

    #[test]
    fn base_images_are_named_for_the_caller_and_their_ids_count() {
        let project = Project::new();
        project.write("Dockerfile", "FROM debian:12\nCOPY . /\n");
        let dockerfile = project.dir.path().join("Dockerfile");
        let request = BuildRequest {
            context: project.dir.path(),
            dockerfile: &dockerfile,
            target: None,
            args: &project.args,
            platform: &project.platform,
        };
        let pending = hash(&request).expect("hashable");
        assert_eq!(pending.base_images, vec!["debian:12".to_string()]);
        let one = pending.finish(&["sha256:one".to_string()]);
        let other = hash(&request)
            .expect("hashable")
            .finish(&["sha256:two".to_string()]);
        assert_ne!(one, other);
    }

    #[test]
    fn what_cannot_be_told_is_said() {
        let project = Project::new();
        project.write("Dockerfile.dockerignore", "*\n");
        let dockerfile = project.dir.path().join("Dockerfile");
        let request = BuildRequest {
            context: project.dir.path(),
            dockerfile: &dockerfile,
            target: None,
            args: &project.args,
            platform: &project.platform,
        };
        let reason = hash(&request).err().expect("cannot tell");
        assert!(reason.contains("only BuildKit reads it"), "{reason}");
    }
}
