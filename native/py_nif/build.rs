fn main() {
    // Debian ships a second libpython3.11 with the same SONAME; without an rpath the
    // dynamic loader may silently pick it instead of the one we were built against.
    pyo3_build_config::add_libpython_rpath_link_args();
    println!("cargo:rerun-if-changed=build.rs");
}
