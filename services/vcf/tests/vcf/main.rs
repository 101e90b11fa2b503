//! Tests of fip-vcf against generated inputs: pre-flight summaries, the
//! per-chromosome split and QC of info files.

mod memory;
mod onepass;
mod preflight;
mod qc;
mod split;

use std::path::{Path, PathBuf};

use fip_vcf::testdata::{Compression, VcfSpec};

/// A temporary directory that holds one test's files.
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Default for Workdir {
    fn default() -> Self {
        Self::new()
    }
}

impl Workdir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temporary directory"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes a generated VCF under `name`.
    pub fn vcf(&self, name: &str, spec: &VcfSpec, compression: Compression) -> PathBuf {
        let path = self.path(name);
        spec.write(&path, compression).expect("write vcf");
        path
    }

    /// Writes text under `name`.
    pub fn text(&self, name: &str, text: &str, compression: Compression) -> PathBuf {
        let path = self.path(name);
        fip_vcf::testdata::write_file(&path, text.as_bytes(), compression).expect("write file");
        path
    }

    /// A fresh empty subdirectory.
    pub fn subdir(&self, name: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::create_dir(&path).expect("create directory");
        path
    }
}

/// The files in a directory, sorted by name.
pub fn list_dir(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("read directory")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}
