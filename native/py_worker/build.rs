fn main() {
    // The worker must load the libpython it was built against, found without
    // LD_LIBRARY_PATH: Debian ships a second libpython3.11 with the same SONAME, which
    // the dynamic loader would otherwise be free to pick. An rpath to the pinned
    // Python's libdir (as the NIF has).
    pyo3_build_config::add_libpython_rpath_link_args();
    println!("cargo:rerun-if-changed=build.rs");
}
