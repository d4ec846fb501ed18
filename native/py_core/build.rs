fn main() {
    // Tests run an interpreter: link the libpython we were configured with, by rpath
    // (Debian ships another libpython3.11 with the same SONAME).
    pyo3_build_config::add_libpython_rpath_link_args();
    if let Some(exe) = pyo3_build_config::get().executable() {
        // The default interpreter (`startup`) when neither `python` nor `venv` is given.
        println!("cargo:rustc-env=PY_BUILD_PYTHON={exe}");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
