//! Compiles the contracts under `fip/` with protox (pure Rust, no protoc) into
//! OUT_DIR: prost messages, tonic clients and servers, and the encoded
//! descriptor set that reflection and the gateway's transcoder read.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() -> Result<(), Box<dyn Error>> {
    let root = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let mut files = Vec::new();
    collect_protos(&root.join("fip"), &mut files)?;
    files.sort();
    println!("cargo:rerun-if-changed={}", root.join("fip").display());
    println!(
        "cargo:rerun-if-changed={}",
        root.join("third_party").display()
    );

    let includes = [root.clone(), root.join("third_party")];
    let mut compiler = protox::Compiler::new(includes)?;
    compiler
        .include_source_info(true)
        .include_imports(true)
        .open_files(&files)?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // Encoded by protox itself so that extension options (`google.api.http`,
    // `google.api.field_behavior`) survive: prost-types would drop them.
    fs::write(
        out.join("fip_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    let fds = compiler.file_descriptor_set();

    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // No default stubs: an RPC added to a contract and forgotten by its
        // service fails the build, not a caller at run time.
        .generate_default_stubs(false)
        // File content travels as `Bytes`: a chunk is decoded as a slice of
        // the received buffer and handed on without another copy.
        .bytes(".fip.files.v1")
        .include_file("_includes.rs")
        .compile_fds(fds)?;
    Ok(())
}

fn collect_protos(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "proto") {
            out.push(path);
        }
    }
    Ok(())
}
