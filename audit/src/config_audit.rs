//! Topic `config`: turning a config change into events that say what changed and who changed
//! it. The binary calls [`crate::Auditor::audit_config_text`] with the config text it runs with
//! (at start and on reload); the auditor compares it with the text it saw last (kept in
//! `<log_dir>/<node>/last-config.toml`) and logs one `config_change` event per changed key.

use std::collections::BTreeMap;

/// Keys whose values are not written into events (only that they changed).
fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "private_key",
        "key_file",
        "psk",
    ]
    .iter()
    .any(|s| k.contains(s))
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::Array(a) if a.iter().any(|x| x.is_table()) => {
            for (i, v) in a.iter().enumerate() {
                flatten(&format!("{prefix}[{i}]"), v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

/// The changes from `old` to `new`, one line per key: `key: old -> new`, `key: added = v`,
/// `key: removed (was v)`. Values of secret-looking keys are replaced by `(hidden)`.
pub fn diff(old: &toml::Value, new: &toml::Value) -> Vec<String> {
    let (mut a, mut b) = (BTreeMap::new(), BTreeMap::new());
    flatten("", old, &mut a);
    flatten("", new, &mut b);
    let show = |k: &str, v: &str| {
        if is_secret(k) {
            "(hidden)".to_string()
        } else {
            v.to_string()
        }
    };
    let mut out = Vec::new();
    for (k, v) in &b {
        match a.get(k) {
            None => out.push(format!("{k}: added = {}", show(k, v))),
            Some(o) if o != v => out.push(format!("{k}: {} -> {}", show(k, o), show(k, v))),
            Some(_) => {}
        }
    }
    for (k, v) in &a {
        if !b.contains_key(k) {
            out.push(format!("{k}: removed (was {})", show(k, v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_changed_keys() {
        let old: toml::Value = toml::from_str(
            "[audit]\nenabled = false\n[[audit.zones]]\nzone = \"System\"\naudit_success = [\"create_file\"]\n[users]\npassword = \"a\"\n",
        )
        .unwrap();
        let new: toml::Value = toml::from_str(
            "[audit]\nenabled = true\nmode = \"guaranteed\"\n[[audit.zones]]\nzone = \"System\"\naudit_success = [\"all\"]\n[users]\npassword = \"b\"\n",
        )
        .unwrap();
        let d = diff(&old, &new);
        assert_eq!(
            d,
            [
                "audit.enabled: false -> true",
                "audit.mode: added = \"guaranteed\"",
                "audit.zones[0].audit_success: [\"create_file\"] -> [\"all\"]",
                "users.password: (hidden) -> (hidden)",
            ]
        );
        assert!(diff(&new, &new).is_empty());
    }
}
