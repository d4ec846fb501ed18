fn main() {
    // Tests run an interpreter: link the libpython we were configured with, by rpath
    // (Debian ships another libpython3.11 with the same SONAME).
    pyo3_build_config::add_libpython_rpath_link_args();
    println!("cargo:rerun-if-changed=build.rs");
}
