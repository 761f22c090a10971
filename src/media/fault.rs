//! Fault injection, compiled only with the `fault-injection` feature: `CUSTODY_FAULT_INJECT`
//! names a write step to fail on purpose (see the module docs of [`crate::media`]).

use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{FAULT_INJECT_ENV, MediaError, WriteStep};

/// Counts the writes of this process, for `step@N` (fail only the N-th write: a split set's
/// N-th share).
static WRITES: AtomicUsize = AtomicUsize::new(0);

pub(super) fn fault_from_env() -> Result<Option<WriteStep>, MediaError> {
    let n = WRITES.fetch_add(1, Ordering::SeqCst) + 1;
    let (step, nth) = parse_fault(std::env::var_os(FAULT_INJECT_ENV))?;
    Ok(step.filter(|_| nth.is_none_or(|k| k == n)))
}

fn parse_fault(value: Option<OsString>) -> Result<(Option<WriteStep>, Option<usize>), MediaError> {
    let bad = |v: &OsString| MediaError::BadFaultInjection {
        value: v.to_string_lossy().into_owned(),
    };
    match value {
        None => Ok((None, None)),
        Some(v) if v.is_empty() => Ok((None, None)),
        // `kill:STEP` is acted on by `kill_at`; the step name must still be one.
        Some(v) if v.to_str().is_some_and(|t| t.starts_with("kill:")) => {
            let name = v
                .to_str()
                .and_then(|t| t.strip_prefix("kill:"))
                .unwrap_or("");
            WriteStep::from_name(name).ok_or_else(|| bad(&v))?;
            Ok((None, None))
        }
        Some(v) => {
            let text = v.to_str().ok_or_else(|| bad(&v))?;
            let (name, nth) = match text.split_once('@') {
                Some((name, n)) => (name, Some(n.parse::<usize>().map_err(|_| bad(&v))?)),
                None => (text, None),
            };
            let step = WriteStep::from_name(name).ok_or_else(|| bad(&v))?;
            Ok((Some(step), nth))
        }
    }
}

/// `CUSTODY_FAULT_INJECT=kill:STEP`: the process kills itself (SIGKILL, which nothing can catch
/// or clean up after) before that step, to test what a crash at each step leaves behind.
fn kill_at(step: WriteStep) {
    let Some(v) = std::env::var_os(FAULT_INJECT_ENV) else {
        return;
    };
    if v.to_str()
        .and_then(|v| v.strip_prefix("kill:"))
        .is_some_and(|name| name == step.name())
    {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}

pub(super) fn inject(
    fault: Option<WriteStep>,
    step: WriteStep,
    path: &Path,
) -> Result<(), MediaError> {
    crate::error::fault_pause(step.name());
    kill_at(step);
    if fault == Some(step) {
        return Err(MediaError::InjectedFault {
            step,
            path: path.to_owned(),
        });
    }
    Ok(())
}

impl WriteStep {
    fn from_name(name: &str) -> Option<WriteStep> {
        WriteStep::ALL.into_iter().find(|s| s.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;
    use crate::media::WriteOutcome;
    use crate::media::test_util::{TestDir, ok_verify};
    use crate::media::write::write_impl;

    fn write(
        path: &Path,
        data: &[u8],
        force: bool,
        fault: Option<WriteStep>,
    ) -> Result<WriteOutcome, MediaError> {
        write_impl(path, data, force, Some(&mut ok_verify), fault)
    }

    #[test]
    fn injected_faults_leave_nothing_behind() {
        for step in WriteStep::ALL {
            let d = TestDir::new(step.name());
            let p = d.0.join("f");
            let e = write(&p, b"data", false, Some(step)).unwrap_err();
            assert!(
                matches!(e, MediaError::InjectedFault { step: s, .. } if s == step),
                "{step:?}: {e:?}"
            );
            assert_eq!(e.step(), Some(step));
            let msg = e.to_string();
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains(step.describe()), "{msg}");
            assert!(msg.contains("nothing was left behind"), "{msg}");
            assert!(d.entries().is_empty(), "{step:?}: {:?}", d.entries());
        }
    }

    #[test]
    fn injected_faults_with_force_and_existing_file() {
        for step in WriteStep::ALL {
            let d = TestDir::new(step.name());
            let p = d.0.join("f");
            fs::write(&p, b"old").unwrap();
            let e = write(&p, b"new", true, Some(step)).unwrap_err();
            // Read-back and verify run on the new bytes before the old file is replaced.
            if step != WriteStep::SyncDir {
                assert!(matches!(e, MediaError::InjectedFault { .. }), "{e:?}");
                assert_eq!(fs::read(&p).unwrap(), b"old", "{step:?}");
                assert_eq!(d.entries(), ["f"], "{step:?}");
            } else {
                match &e {
                    MediaError::NotRestored {
                        error,
                        replaced_existing: true,
                        left_behind,
                    } => {
                        assert!(matches!(**error, MediaError::InjectedFault { .. }));
                        assert!(left_behind.is_empty());
                    }
                    other => panic!("{step:?}: {other:?}"),
                }
                assert!(e.to_string().contains("is gone"), "{e}");
                assert!(d.entries().is_empty(), "{step:?}: {:?}", d.entries());
            }
        }
    }

    #[test]
    fn fault_names() {
        for step in WriteStep::ALL {
            assert_eq!(
                parse_fault(Some(step.name().into())).unwrap(),
                (Some(step), None)
            );
        }
        assert_eq!(
            parse_fault(Some("rename@2".into())).unwrap(),
            (Some(WriteStep::Rename), Some(2))
        );
        assert!(parse_fault(Some("rename@x".into())).is_err());
        assert_eq!(parse_fault(None).unwrap(), (None, None));
        assert_eq!(parse_fault(Some("".into())).unwrap(), (None, None));
        let e = parse_fault(Some("sync_dir".into())).unwrap_err();
        assert!(matches!(e, MediaError::BadFaultInjection { .. }));
        assert!(e.to_string().contains("sync-dir"), "{e}");
    }
}
