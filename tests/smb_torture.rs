//! smbtorture suites against shoal, one test per smbtorture process, each suite with a
//! known-failures list in `tests/expected/smbtorture-<suite>.toml`: the run fails on a new
//! failure **and** on an unexpected pass, so the list stays true.

mod common;

use common::{run, Opts, Server};
use std::collections::{BTreeMap, VecDeque};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// What `tests/expected/smbtorture-<suite>.toml` says about a suite.
struct Expected {
    /// `[known]`: test expected to fail (failure, error or timeout) -> why.
    known: BTreeMap<String, String>,
    /// `[skip]`: test smbtorture skips (it finds the server lacks a capability) -> why. A
    /// skip not listed is a failure of the run, and so is a listed test that runs.
    skip: BTreeMap<String, String>,
    /// `[flaky]`: test that may go either way -> why.
    flaky: BTreeMap<String, String>,
    /// `timeout_secs` (top level, default 30): a test still running after this long is killed
    /// and counts as `timeout`.
    timeout: Duration,
    /// `[timeouts]`: test -> its own timeout in seconds, overriding `timeout_secs`.
    timeouts: BTreeMap<String, u64>,
    /// `workers` (top level, default 4): tests run this many at a time. Each test gets a
    /// fresh shoal with an empty backing directory, so tests never share files or state.
    workers: usize,
}

fn string_table(t: &toml::Table, key: &str) -> BTreeMap<String, String> {
    t.get(key)
        .and_then(|k| k.as_table())
        .map(|t| {
            t.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

fn expected(suite: &str) -> Expected {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/expected/smbtorture-{suite}.toml"));
    let t: toml::Table = std::fs::read_to_string(&path)
        .map(|t| {
            t.parse()
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .unwrap_or_default();
    for key in t.keys() {
        assert!(
            [
                "known",
                "skip",
                "flaky",
                "timeout_secs",
                "timeouts",
                "workers"
            ]
            .contains(&key.as_str()),
            "{}: unknown key {key}",
            path.display()
        );
    }
    let int = |key: &str, default: i64| {
        let v = t.get(key).map_or(default, |v| {
            v.as_integer()
                .unwrap_or_else(|| panic!("{}: {key} must be an integer", path.display()))
        });
        assert!(v > 0, "{}: {key} must be positive", path.display());
        v as u64
    };
    let known = string_table(&t, "known");
    let skip = string_table(&t, "skip");
    for (name, why) in known.iter().chain(&skip) {
        assert!(
            !why.trim().is_empty(),
            "{}: {name} has no reason",
            path.display()
        );
        assert!(
            !(known.contains_key(name) && skip.contains_key(name)),
            "{}: {name} is both in [known] and [skip]",
            path.display()
        );
    }
    Expected {
        known,
        skip,
        flaky: string_table(&t, "flaky"),
        timeout: Duration::from_secs(int("timeout_secs", 30)),
        timeouts: t
            .get("timeouts")
            .and_then(|k| k.as_table())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let secs = v.as_integer().filter(|s| *s > 0).unwrap_or_else(|| {
                            panic!(
                                "{}: [timeouts] {k} must be a positive integer",
                                path.display()
                            )
                        });
                        (k.clone(), secs as u64)
                    })
                    .collect()
            })
            .unwrap_or_default(),
        workers: int("workers", 4) as usize,
    }
}

/// The tests of `suite`, as `smbtorture --list` names them (first component after the suite).
fn list_tests(suite: &str) -> Vec<String> {
    let list = run(
        Command::new("smbtorture").arg("--list").arg(suite),
        Duration::from_secs(60),
    );
    let prefix = format!("{suite}.");
    let mut tests: Vec<String> = String::from_utf8_lossy(&list.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .map(|rest| rest.split('.').next().unwrap_or("").to_string())
        .filter(|t| !t.is_empty())
        .collect();
    tests.dedup();
    assert!(
        !tests.is_empty(),
        "smbtorture --list {suite}: {}",
        String::from_utf8_lossy(&list.stdout)
    );
    tests
}

/// How one test went.
struct Outcome {
    /// `success`, `failure`, `skip`, `error` or `timeout`.
    kind: String,
    /// smbtorture's output (and shoal's log if shoal panicked).
    text: String,
    took: Duration,
    /// shoal's log has a panic.
    panicked: bool,
}

/// Runs `suite.test` in its own smbtorture process against `s`; kills it after `timeout`.
/// Returns the outcome (`success`, `failure`, `skip`, `error` or `timeout`) and the output.
fn torture_one(s: &Server, suite: &str, test: &str, timeout: Duration) -> (String, String) {
    let out_path = s.dir.0.join("torture.out");
    let file = std::fs::File::create(&out_path).unwrap();
    let mut child = Command::new("smbtorture")
        .arg("//127.0.0.1/data")
        .args(["-p", &s.smb_port.to_string(), "-U", "alice%Pa55word!"])
        .arg(format!("{suite}.{test}"))
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + timeout;
    let mut timed_out = false;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            // smbtorture runs a test in one process (no children): killing it ends the test.
            let _ = child.kill();
            let _ = child.wait();
            timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let text = std::fs::read_to_string(&out_path).unwrap_or_default();
    if timed_out {
        return ("timeout".to_string(), text);
    }
    // "<kind>: <test>" or "<kind>: <test> [" (names may contain spaces: "CREATE Existing").
    let mut kind = "error".to_string();
    for line in text.lines() {
        for k in ["success", "failure", "skip", "error"] {
            if line.strip_prefix(&format!("{k}: ")).is_some_and(|r| {
                r.trim_end() == test || r.strip_prefix(test).is_some_and(|x| x.starts_with(' '))
            }) {
                kind = k.to_string();
            }
        }
    }
    (kind, text)
}

/// Runs smbtorture suite `suite` one test per process, each against a fresh shoal, compares
/// with `tests/expected/smbtorture-<suite>.toml` and prints the counts. The file's `[known]`
/// table maps each test expected to fail (failure, error or timeout) to the reason; `[skip]`
/// each test smbtorture skips to the reason; `[flaky]` lists tests that may go either way,
/// with the reason. The run fails on a new failure, on an unexpected pass, on a new skip, on
/// a listed skip that runs, and on a panic in shoal's log.
///
/// A test that hangs (waiting for an oplock break or an interim response shoal does not send)
/// is killed after the suite's `timeout_secs` (default 30, `[timeouts]` per test) and counts
/// as `timeout`. Tests run `workers` at a time (default 4), so a suite full of hanging tests
/// costs about (hanging tests / workers) x timeout; tests with their own timeout go first.
fn torture_suite(suite: &str) {
    let exp = expected(suite);
    let tests = list_tests(suite);
    for name in exp
        .known
        .keys()
        .chain(exp.skip.keys())
        .chain(exp.flaky.keys())
        .chain(exp.timeouts.keys())
    {
        assert!(
            tests.contains(name),
            "tests/expected/smbtorture-{suite}.toml names {name}, which smbtorture does not list"
        );
    }
    let started = Instant::now();
    // Longest timeouts first, so a slow test does not start last and stretch the run.
    let mut order: Vec<&String> = tests.iter().collect();
    order.sort_by_key(|t| std::cmp::Reverse(exp.timeouts.get(*t).copied().unwrap_or(0)));
    let queue = Mutex::new(order.into_iter().collect::<VecDeque<_>>());
    let results: Mutex<BTreeMap<String, Outcome>> = Mutex::new(BTreeMap::new());
    let workers = exp.workers.min(tests.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let (queue, results, exp) = (&queue, &results, &exp);
            scope.spawn(move || loop {
                let Some(t) = queue.lock().unwrap().pop_front() else {
                    break;
                };
                let timeout = exp
                    .timeouts
                    .get(t)
                    .map_or(exp.timeout, |s| Duration::from_secs(*s));
                // A fresh shoal per test: a test never sees files, ACLs or open state another
                // test left behind, whatever order the workers take them in.
                let s = Server::start(Opts::standard());
                s.add_user("alice", "Pa55word!");
                // smbtorture creates files as alice in the share root.
                std::fs::set_permissions(&s.backing, std::fs::Permissions::from_mode(0o1777))
                    .unwrap();
                let t0 = Instant::now();
                let (kind, text) = torture_one(&s, suite, t, timeout);
                let took = t0.elapsed();
                let log = s.log();
                let panicked = log.lines().any(|l| l.contains("panicked"));
                let text = if panicked {
                    format!("{text}\n--- shoal log:\n{log}")
                } else {
                    text
                };
                results.lock().unwrap().insert(
                    t.clone(),
                    Outcome {
                        kind,
                        text,
                        took,
                        panicked,
                    },
                );
            });
        }
    });
    let results = results.into_inner().unwrap();
    let count = |k: &str| results.values().filter(|o| o.kind == k).count();
    eprintln!(
        "{suite}: {} success, {} failure, {} error, {} timeout, {} skip (of {}) in {:.0?} with {workers} workers",
        count("success"),
        count("failure"),
        count("error"),
        count("timeout"),
        count("skip"),
        results.len(),
        started.elapsed(),
    );
    let mut problems = Vec::new();
    let mut log = String::new();
    for (name, o) in &results {
        if o.kind != "success" || o.panicked {
            log.push_str(&format!(
                "=== {name}: {} after {:.1?}\n{}\n",
                o.kind,
                o.took,
                o.text
                    .lines()
                    .filter(|l| !l.starts_with("time:"))
                    .take(if o.panicked { 400 } else { 40 })
                    .collect::<Vec<_>>()
                    .join("\n")
            ));
        }
        if o.panicked {
            problems.push(format!("shoal panicked during {name}"));
        }
        if exp.flaky.contains_key(name) {
            continue;
        }
        let expected_fail = exp.known.contains_key(name);
        let expected_skip = exp.skip.contains_key(name);
        match o.kind.as_str() {
            "failure" | "error" | "timeout" if !expected_fail => {
                problems.push(format!("new {}: {name}", o.kind))
            }
            "success" if expected_fail => {
                problems.push(format!("unexpected pass (remove from [known]): {name}"))
            }
            "skip" if !expected_skip => problems.push(format!(
                "new skip (smbtorture found the server lacks what {name} needs): {name}"
            )),
            "success" | "failure" | "error" | "timeout" if expected_skip => problems.push(format!(
                "{name} ran ({}) but is listed in [skip]: move it",
                o.kind
            )),
            _ => {}
        }
    }
    if std::env::var_os("SHOAL_TORTURE_VERBOSE").is_some() {
        eprintln!("{log}");
    }
    assert!(
        problems.is_empty(),
        "{suite}:\n{}\n\n{log}",
        problems.join("\n")
    );
}

#[test]
fn smbtorture_smb2_connect() {
    torture_suite("smb2.connect");
}

#[test]
fn smbtorture_smb2_read() {
    torture_suite("smb2.read");
}

#[test]
fn smbtorture_smb2_rw() {
    torture_suite("smb2.rw");
}

#[test]
fn smbtorture_smb2_dir() {
    torture_suite("smb2.dir");
}

#[test]
fn smbtorture_smb2_getinfo() {
    torture_suite("smb2.getinfo");
}

#[test]
fn smbtorture_smb2_setinfo() {
    torture_suite("smb2.setinfo");
}

#[test]
fn smbtorture_smb2_compound() {
    torture_suite("smb2.compound");
}

#[test]
fn smbtorture_smb2_credits() {
    torture_suite("smb2.credits");
}

#[test]
fn smbtorture_smb2_create() {
    torture_suite("smb2.create");
}

#[test]
fn smbtorture_smb2_session() {
    torture_suite("smb2.session");
}

#[test]
fn smbtorture_smb2_lock() {
    torture_suite("smb2.lock");
}

#[test]
fn smbtorture_smb2_oplock() {
    torture_suite("smb2.oplock");
}

#[test]
fn smbtorture_smb2_lease() {
    torture_suite("smb2.lease");
}

#[test]
fn smbtorture_smb2_sharemode() {
    torture_suite("smb2.sharemode");
}

#[test]
fn smbtorture_smb2_delete_on_close_perms() {
    torture_suite("smb2.delete-on-close-perms");
}

#[test]
fn smbtorture_smb2_rename() {
    torture_suite("smb2.rename");
}
