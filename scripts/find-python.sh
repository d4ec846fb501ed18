#!/bin/sh
# Prints the Python the NIF is built against and embeds: $PYO3_PYTHON if set, else the
# first CPython 3.11 with a linkable shared libpython among python3.11 on PATH, pyenv's
# 3.11 installs, and python3. (A distribution's python3.11 without its -dev package
# has the library's runtime but nothing to link against.)
usable() {
    [ -x "$1" ] || return 1
    "$1" - <<'PY' 2>/dev/null
import os, sys, sysconfig
ok = sys.version_info[:2] == (3, 11) and sysconfig.get_config_var("Py_ENABLE_SHARED")
lib = os.path.join(sysconfig.get_config_var("LIBDIR") or "", sysconfig.get_config_var("LDLIBRARY") or "")
sys.exit(0 if ok and os.path.exists(lib) else 1)
PY
}
if [ -n "${PYO3_PYTHON:-}" ]; then
    echo "$PYO3_PYTHON"
    exit 0
fi
for candidate in "$(command -v python3.11 2>/dev/null)" \
                 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.11*/bin/python3.11 \
                 "$(command -v python3 2>/dev/null)"; do
    if usable "$candidate"; then
        echo "$candidate"
        exit 0
    fi
done
echo "find-python: no CPython 3.11 with a shared libpython found" >&2
exit 1
