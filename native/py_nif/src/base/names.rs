//! Names given as terms (modules, functions, attributes, keywords, atoms): read into
//! Rust strings. Nothing here makes an atom.
use rustler::sys;
use rustler::{Env, Term};

/// The UTF-8 name of an atom. OTP 25's NIF API reads atom names as Latin-1 only; an
/// atom with other characters is read from its external format (ATOM_UTF8_EXT).
pub fn atom_name(env: Env<'_>, t: sys::ErlNifTerm) -> Option<String> {
    let mut buf = [0u8; 256];
    let n = unsafe {
        sys::enif_get_atom(
            env.as_c_arg(),
            t,
            buf.as_mut_ptr() as *mut _,
            buf.len() as u32,
            sys::ErlNifCharEncoding::ERL_NIF_LATIN1,
        )
    };
    if n > 0 {
        return Some(buf[..(n as usize - 1)].iter().map(|&b| b as char).collect());
    }
    let etf = unsafe { Term::new(env, t) }.to_binary();
    match etf.as_slice() {
        [131, 118, hi, lo, name @ ..] if name.len() == u16::from_be_bytes([*hi, *lo]) as usize => {
            String::from_utf8(name.to_vec()).ok()
        }
        [131, 119, len, name @ ..] if name.len() == *len as usize => {
            String::from_utf8(name.to_vec()).ok()
        }
        _ => None,
    }
}

/// A dotted name ("os.path.isdir"): a name, or `{Owner, Attr}` of two names, which
/// reads "Owner.Attr" (the pair spares the caller building a binary on every call).
pub fn dotted_name(env: Env<'_>, t: Term<'_>) -> Option<String> {
    match rustler::types::tuple::get_tuple(t) {
        Ok(parts) => match parts[..] {
            [owner, attr] => {
                let mut name = name_of(env, owner)?;
                name.push('.');
                name.push_str(&name_of(env, attr)?);
                Some(name)
            }
            _ => None,
        },
        Err(_) => name_of(env, t),
    }
}

/// A name given as an atom or a binary (module, function, attribute or keyword).
pub fn name_of(env: Env<'_>, t: Term<'_>) -> Option<String> {
    if t.is_atom() {
        atom_name(env, t.as_c_arg())
    } else {
        let bin = rustler::Binary::from_term(t).ok()?;
        std::str::from_utf8(bin.as_slice()).ok().map(str::to_owned)
    }
}
