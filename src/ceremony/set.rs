//! Restoring and verifying from several share files: grouping, naming bad shares, combining.

#[allow(unused_imports)]
use super::*;

/// Restore (or verify) from several share files: group them by set, open each officer's share
/// in turn, name every bad one, combine K good ones, cross-check the rest, check the secret.
/// With `partial_ok`, fewer than K shares is a verify of each share alone. The shares'
/// Argon2id cost is compared with custody's defaults ([`KdfLimits::default`]). Before any
/// token or password, the prompter is asked for the first 8 digits of the set's fingerprint
/// ([`Prompter::answer`]; nobody to ask leaves it unchecked, which refuses a set that another
/// group of files claims) and whether to go on without files of another set
/// ([`Prompter::confirm`]).
pub fn open_set(
    inputs: &[Input],
    overrides: &[KeySpec],
    env: TokenEnv,
    prompter: &mut dyn Prompter,
    partial_ok: bool,
) -> Result<SetCheck, SetError> {
    open_set_with(
        inputs,
        overrides,
        env,
        prompter,
        partial_ok,
        SetChecks {
            limits: &KdfLimits::default(),
            options: LoadOptions::default(),
            // The person is asked for the fingerprint's first digits and about files of
            // another set, through the prompter (nobody to ask: unchecked, and refused).
            expect: &Expectation {
                ask: true,
                ..Expectation::default()
            },
            ignore_foreign: false,
        },
    )
}

/// What is checked of a set's files before any token or prompt, and how they are read.
#[derive(Clone, Copy)]
pub(crate) struct SetChecks<'a> {
    /// The Argon2id cost the shares may ask for without a confirmation.
    pub(crate) limits: &'a KdfLimits,
    /// How the files are read.
    pub(crate) options: LoadOptions,
    /// What the set's fingerprint is compared with.
    pub(crate) expect: &'a Expectation,
    /// Go on without files of another set, without asking.
    pub(crate) ignore_foreign: bool,
}

/// [`open_set`], the set's fingerprint compared with `expect` and the shares' Argon2id cost
/// checked against `limits` before any token or prompt, and the files read as `options` say (a
/// repaired text-mode copy is announced).
pub(crate) fn open_set_with(
    inputs: &[Input],
    overrides: &[KeySpec],
    env: TokenEnv,
    prompter: &mut dyn Prompter,
    partial_ok: bool,
    checks: SetChecks<'_>,
) -> Result<SetCheck, SetError> {
    let SetChecks {
        limits,
        options,
        expect,
        ignore_foreign,
    } = checks;
    let mut problems: Vec<String> = Vec::new();
    let mut loaded: Vec<(usize, LoadedFile)> = Vec::new();
    for (pos, input) in inputs.iter().enumerate() {
        match load_input_with(input, options) {
            Ok(lf) => {
                announce_text_copy(&lf, prompter);
                loaded.push((pos, lf));
            }
            Err(e) => problems.push(format!("{e}")),
        }
    }
    if loaded.is_empty() {
        return Err(SetError::NothingReadable { problems });
    }
    // Files of one set share the common header and the payload byte for byte.
    let key = |lf: &LoadedFile| (lf.enc.common().to_vec(), lf.file.payload.clone());
    let mut groups: Vec<(Vec<u8>, Vec<u8>, Vec<usize>)> = Vec::new();
    for (i, (_, lf)) in loaded.iter().enumerate() {
        let (c, pl) = key(lf);
        match groups.iter_mut().find(|g| g.0 == c && g.1 == pl) {
            Some(g) => g.2.push(i),
            None => groups.push((c, pl, vec![i])),
        }
    }
    // The set restored is the one with the most distinct shares: a file given twice counts once.
    let distinct = |g: &(Vec<u8>, Vec<u8>, Vec<usize>)| {
        let mut idx: Vec<u8> = g.2.iter().map(|&i| loaded[i].1.file.own.index).collect();
        idx.sort_unstable();
        idx.dedup();
        idx.len()
    };
    // A group's first file stands for its common header (every group has a file).
    let head = |g: &(Vec<u8>, Vec<u8>, Vec<usize>)| g.2.first().map(|&i| &loaded[i].1);
    let restorable = |g: &(Vec<u8>, Vec<u8>, Vec<usize>)| {
        head(g).is_some_and(|lf| distinct(g) >= usize::from(lf.file.common.threshold))
    };
    // At least one file loaded, so there is at least one group.
    let Some(mut main) = groups
        .iter()
        .enumerate()
        .max_by_key(|(gi, g)| (distinct(g), usize::MAX - gi))
        .map(|(gi, _)| gi)
    else {
        return Err(SetError::NothingReadable { problems });
    };
    // Every group, with its files, before anything is asked.
    if groups.len() > 1 {
        prompter
            .info("The files given, by set (files of one set share their header byte for byte):");
        for g in &groups {
            let Some(lf) = head(g) else { continue };
            let c = &lf.file.common;
            prompter.info(&format!(
                "  set {} (fingerprint {}, {} of {}): {}",
                hex::encode(c.set_id),
                crypto::fingerprint_display(&c.fingerprint),
                c.threshold,
                c.count,
                g.2.iter()
                    .map(|&i| display_path(&loaded[i].1.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    let claimed = match groups.get(main).and_then(head) {
        Some(lf) => lf.file.common.set_id,
        None => return Err(SetError::NothingReadable { problems }),
    };
    // Two groups that claim one set id and could each restore: one of them is forged or
    // altered, and having more shares says nothing about which. Only the record or the
    // fingerprint the person gives can choose, when it accepts exactly one.
    let rivals: Vec<usize> = (0..groups.len())
        .filter(|&gi| {
            restorable(&groups[gi])
                && head(&groups[gi]).is_some_and(|lf| lf.file.common.set_id == claimed)
        })
        .collect();
    if rivals.len() > 1 {
        let quiet = Expectation {
            ask: false,
            ..expect.clone()
        };
        let accepted: Vec<usize> = rivals
            .iter()
            .copied()
            .filter(|&gi| {
                head(&groups[gi]).is_some_and(|lf| {
                    check_expectation(
                        &lf.path,
                        &lf.file.common.set_id,
                        &lf.file.common.fingerprint,
                        &quiet,
                        // Without `ask`, nothing is asked or said.
                        &mut *prompter,
                    )
                    .is_ok_and(FingerprintCheck::is_checked)
                })
            })
            .collect();
        match accepted.as_slice() {
            [one] => main = *one,
            _ => {
                return Err(SetError::Rivals {
                    set_id: claimed,
                    files: rivals
                        .iter()
                        .flat_map(|&gi| groups[gi].2.iter().map(|&i| loaded[i].1.path.clone()))
                        .collect(),
                });
            }
        }
    }
    let Some(first) = groups.get(main).and_then(head) else {
        return Err(SetError::NothingReadable { problems });
    };
    let set_id = first.file.common.set_id;
    // Files that claim this set but differ from it, and files of other sets.
    let mut altered: Vec<PathBuf> = Vec::new();
    let mut foreign: Vec<PathBuf> = Vec::new();
    for (gi, g) in groups.iter().enumerate() {
        if gi == main {
            continue;
        }
        for &i in &g.2 {
            let lf = &loaded[i].1;
            if lf.file.common.set_id == set_id {
                altered.push(lf.path.clone());
            } else {
                foreign.push(lf.path.clone());
            }
            problems.push(if lf.file.common.set_id == set_id {
                format!(
                    "{}: claims set {} but its header or payload differs from {}: one of the \
                     two was altered, or comes from another backup with a forged set id",
                    display_path(&lf.path),
                    hex::encode(set_id),
                    display_path(&first.path)
                )
            } else {
                format!(
                    "{}: from another set ({}, fingerprint {}), not set {}",
                    display_path(&lf.path),
                    hex::encode(lf.file.common.set_id),
                    crypto::fingerprint_display(&lf.file.common.fingerprint),
                    hex::encode(set_id)
                )
            });
        }
    }
    let common = first.file.common.clone();
    let (k, n) = (common.threshold, common.count);
    show_header(first, prompter);
    prompter.info(&format!(
        "  set:         {k} of {n} shares needed{}",
        if n == 1 { " (a single backup)" } else { "" }
    ));

    // A byte-identical second copy of a share is named and counted once. Two different files
    // for one index are both kept: whichever opens is the genuine one, the other is named.
    let mut members: Vec<(usize, &LoadedFile)> = Vec::new();
    for &i in &groups[main].2 {
        let (pos, lf) = (&loaded[i].0, &loaded[i].1);
        let idx = lf.file.own.index;
        if let Some((_, other)) = members
            .iter()
            .find(|(_, o)| o.file.own.index == idx && o.enc.bytes == lf.enc.bytes)
        {
            problems.push(format!(
                "{}: the same share as {} (share {idx}) given twice; counted once",
                display_path(&lf.path),
                display_path(&other.path)
            ));
            continue;
        }
        members.push((*pos, lf));
    }
    let distinct_members = {
        let mut idx: Vec<u8> = members.iter().map(|(_, lf)| lf.file.own.index).collect();
        idx.sort_unstable();
        idx.dedup();
        idx
    };
    let holders_of = |good: &[GoodShare]| -> Vec<String> {
        (1..=n)
            .filter(|i| !good.iter().any(|g| g.index == *i))
            .map(|i| officer_name(&first.file, i))
            .collect()
    };
    if distinct_members.len() < k as usize && !partial_ok {
        let have = &distinct_members;
        return Err(SetError::NotEnough {
            set_id,
            have: have.len(),
            need: k as usize,
            holders: (1..=n)
                .filter(|i| !have.contains(i))
                .map(|i| officer_name(&first.file, i))
                .collect(),
            problems,
        });
    }

    // Files of another set: named above; the restore goes on without them only when the person
    // says so (or asked for it beforehand).
    if !foreign.is_empty() && !ignore_foreign {
        let question = format!(
            "{} of another set than {} given ({}): go on without {}?",
            if foreign.len() == 1 {
                "a file"
            } else {
                "files"
            },
            hex::encode(set_id),
            foreign
                .iter()
                .map(|p| display_path(p))
                .collect::<Vec<_>>()
                .join(", "),
            if foreign.len() == 1 { "it" } else { "them" }
        );
        if !prompter.confirm(&question).unwrap_or(false) {
            return Err(SetError::Foreign {
                set_id,
                files: foreign,
            });
        }
    }
    // The set's fingerprint, before anything is asked for any of its files (a set
    // too small to restore was refused above, without a question).
    let checked = check_expectation(&first.path, &set_id, &common.fingerprint, expect, prompter)
        .map_err(|e| SetError::Fatal(OpenFileError::Fingerprint(e)))?;
    // A file claiming this set id was altered or forged: the set restored is the genuine one
    // only if something besides the files says so.
    if !altered.is_empty() && !checked.is_checked() {
        return Err(SetError::Unconfirmed {
            set_id,
            files: altered,
        });
    }

    // Every share about to be derived, before any token or password: the cost each asks
    // for, and memory for the largest (they run one after another).
    let to_derive: Vec<&LoadedFile> = members.iter().map(|(_, lf)| *lf).collect();
    check_cost(&to_derive, limits, prompter).map_err(SetError::Cost)?;
    if let Some(lf) = to_derive.iter().max_by_key(|lf| lf.file.own.kdf.memory_kib) {
        check_memory(&lf.path, &[lf.file.own.kdf]).map_err(SetError::Cost)?;
    }
    // Each officer's Argon2id runs in the background while the next officer takes the
    // keyboard, so that after the last entry the wait is about one run, not one per officer:
    // one run at a time in the background, and only when this process could hold two at once.
    let ahead = members.len() > 1
        && to_derive
            .iter()
            .max_by_key(|lf| lf.file.own.kdf.memory_kib)
            .is_some_and(|lf| check_memory(&lf.path, &[lf.file.own.kdf, lf.file.own.kdf]).is_ok());
    let strict = partial_ok && distinct_members.len() < k as usize;
    // A share checked alone stops at its own failure: in turn, so the first is the one named.
    let ahead = ahead && !strict;
    let mut tokens = Tokens::new(env, prompter);
    let mut tally = Tally {
        good: Vec::new(),
        // What was found before the officers' turns comes first.
        problems: problems.into_iter().map(|p| (0, p)).collect(),
        called_back: Vec::new(),
        n: n.into(),
        k,
        strict,
    };
    // The officers take the keyboard in turn (a set of several shares only).
    let turns = members.len();
    let mut turn = 0;
    let mut running: Option<(Attempt<'_>, super::progress::Background)> = None;
    for (pos, lf) in &members {
        // The previous officer's share, counted as soon as it is known: here if its run has
        // ended (or this file has the same index, which needs to know), else once this officer
        // has typed.
        if let Some((prev, bg)) = &mut running
            && (bg.ready() || prev.lf.file.own.index == lf.file.own.index)
            && let Some((prev, bg)) = running.take()
        {
            let a = bg.wait(tokens.prompter(), &display_path(&prev.lf.path));
            let result = finish_with(prev.lf, &prev.proven, a);
            tally.settle(prev, result, tokens.prompter())?;
        }
        // Another file for this index already opened: this one is not needed, and not genuine.
        if let Some(g) = tally.good.iter().find(|g| g.index == lf.file.own.index) {
            let problem = format!(
                "{}: another file for share {} than {}, which opened: this one is not genuine",
                display_path(&lf.path),
                g.index,
                display_path(&g.file)
            );
            tally.problems.push((*pos, problem));
            continue;
        }
        let who = format!(
            "{}, {}",
            officer_name(&lf.file, lf.file.own.index),
            display_path(&lf.path)
        );
        let plan = match plan_file(lf, overrides, &mut tokens) {
            Ok(p) => p,
            Err(e) if strict => return Err(SetError::Fatal(e)),
            Err(e) => {
                tally.problems.push((*pos, format!("{who}: {e}")));
                continue;
            }
        };
        turn += 1;
        let line = handover_line(turn, turns, &lf.file.common.officers, lf.file.own.index);
        if n > 1 {
            tokens
                .prompter()
                .handover(&line, *pos, false)
                .map_err(|error| {
                    SetError::Fatal(OpenFileError::Prompt {
                        file: lf.path.clone(),
                        error,
                    })
                })?;
        }
        tokens.prompter().info(&format!("Share of {who}"));
        // The share's token key proves itself before its officer types anything.
        let proven = match prove_first(lf, plan, overrides, &mut tokens) {
            Ok(p) => p,
            Err(e @ OpenFileError::Token { .. }) if e.kind() != ErrorKind::NotFound => {
                return Err(SetError::Fatal(e));
            }
            Err(e) if strict => return Err(SetError::Fatal(e)),
            Err(e) => {
                let problem = format!("{}: {e}", officer_name(&lf.file, lf.file.own.index));
                tally.problems.push((*pos, problem));
                continue;
            }
        };
        show_hint(lf, tokens.prompter());
        let entry = tokens.prompter().share_password(&who, *pos);
        // Whatever was typed, the next officer sees nothing of this one's turn (the hint).
        if n > 1 {
            tokens.prompter().end_turn(*pos, false);
        }
        let password = match entry {
            Ok(Some(p)) => p,
            Ok(None) => {
                let problem = format!("{who}: skipped (officer absent)");
                tally.problems.push((*pos, problem));
                continue;
            }
            Err(error) => {
                return Err(SetError::Fatal(OpenFileError::Prompt {
                    file: lf.path.clone(),
                    error,
                }));
            }
        };
        let attempt = Attempt {
            pos: *pos,
            lf,
            proven,
            who,
            line,
        };
        // The previous officer's run ends first: at most one in the background.
        if let Some((prev, bg)) = running.take() {
            let a = bg.wait(tokens.prompter(), &display_path(&prev.lf.path));
            let result = finish_with(prev.lf, &prev.proven, a);
            tally.settle(prev, result, tokens.prompter())?;
        }
        if ahead {
            check_memory(&lf.path, &[lf.file.own.kdf]).map_err(SetError::Cost)?;
            let own = &lf.file.own;
            let bg = super::progress::Background::start(password, own.kdf_salt, own.kdf);
            running = Some((attempt, bg));
        } else {
            let result = attempt_with(lf, &attempt.proven, &password, tokens.prompter());
            tally.settle(attempt, result, tokens.prompter())?;
        }
    }
    if let Some((prev, bg)) = running.take() {
        let a = bg.wait(tokens.prompter(), &display_path(&prev.lf.path));
        let result = finish_with(prev.lf, &prev.proven, a);
        tally.settle(prev, result, tokens.prompter())?;
    }
    let Tally {
        mut good,
        problems,
        called_back,
        ..
    } = tally;
    // In the order of the files, whenever each officer's run ended.
    let mut problems = problems;
    problems.sort_by_key(|(pos, _)| *pos);
    let mut problems: Vec<String> = problems.into_iter().map(|(_, p)| p).collect();

    // After the last officer's entry, each officer whose password was wrong is called back
    // while shares are still missing: three tries in all, or Enter alone to stop. A password
    // from a file or the environment is not asked again (the prompter says `None`).
    for back in &called_back {
        let mut tries_left = PASSWORD_TRIES - 1;
        while tries_left > 0 && good.len() < k as usize {
            let prompt_error = |error| {
                SetError::Fatal(OpenFileError::Prompt {
                    file: back.lf.path.clone(),
                    error,
                })
            };
            tokens
                .prompter()
                .handover(&back.line, back.pos, false)
                .map_err(prompt_error)?;
            show_hint(back.lf, tokens.prompter());
            let again = tokens.prompter().password_again(&back.who, tries_left);
            tokens.prompter().end_turn(back.pos, false);
            let Some(password) = again.map_err(prompt_error)? else {
                break;
            };
            tries_left -= 1;
            match attempt_with(back.lf, &back.proven, &password, tokens.prompter()) {
                Ok(o) => {
                    good.push(GoodShare {
                        index: back.lf.file.own.index,
                        s: o.s,
                        file: back.lf.path.clone(),
                        key: back.lf.file.slots[o.slot].descriptor.clone(),
                    });
                    problems.retain(|p| *p != back.problem);
                    tokens
                        .prompter()
                        .info(&accepted_line(good.len(), usize::from(k)));
                }
                Err(OpenFileError::WrongPassword { .. }) => continue,
                Err(e @ OpenFileError::Token { .. }) if e.kind() != ErrorKind::NotFound => {
                    return Err(SetError::Fatal(e));
                }
                Err(OpenFileError::Cost(e)) => return Err(SetError::Cost(e)),
                Err(e) => {
                    problems.retain(|p| *p != back.problem);
                    problems.push(format!(
                        "{}: {e}",
                        officer_name(&back.lf.file, back.lf.file.own.index)
                    ));
                }
            }
            break;
        }
    }

    if good.len() < k as usize {
        if partial_ok && !good.is_empty() && problems.is_empty() {
            return Ok(SetCheck::Shares {
                set_id,
                fingerprint: common.fingerprint,
                threshold: k,
                count: n,
                opened: good
                    .iter()
                    .map(|g| (g.file.clone(), officer_name(&first.file, g.index)))
                    .collect(),
                opened_by: good.iter().map(|g| g.key.clone()).collect(),
                checked,
            });
        }
        return Err(SetError::NotEnough {
            set_id,
            have: good.len(),
            need: k as usize,
            holders: holders_of(&good),
            problems,
        });
    }

    // K good shares give D; every extra share must give the same D with K−1 of the others.
    let d = if n == 1 {
        good[0].s.to_data_key()
    } else {
        let shares: Vec<shamir::Share> = good
            .iter()
            .map(|g| shamir::Share {
                index: g.index,
                value: g.s.to_share(),
            })
            .collect();
        let base: Vec<&shamir::Share> = shares.iter().take(k as usize).collect();
        let d = shamir::combine(&base, k).map_err(|reason| SetError::Inconsistent {
            reason,
            problems: problems.clone(),
        })?;
        for (e, extra) in shares.iter().enumerate().skip(k as usize) {
            let mut subset: Vec<&shamir::Share> = shares.iter().take(k as usize - 1).collect();
            subset.push(extra);
            let d2 = shamir::combine(&subset, k).map_err(|reason| SetError::Inconsistent {
                reason,
                problems: problems.clone(),
            })?;
            if !crypto::ct_eq(d2.expose(), d.expose()) {
                return Err(SetError::Inconsistent {
                    reason: format!(
                        "{} is at odds with the other shares",
                        display_path(&good[e].file)
                    ),
                    problems,
                });
            }
        }
        d
    };
    let secret =
        decrypt_payload(&first.file, &first.enc, &d).ok_or_else(|| SetError::Inconsistent {
            reason: "the combined data key does not decrypt the secret".into(),
            problems: problems.clone(),
        })?;
    if !crypto::ct_eq(&crypto::fingerprint(secret.expose()), &common.fingerprint) {
        return Err(SetError::Inconsistent {
            reason: "the secret does not match the set's fingerprint".into(),
            problems,
        });
    }
    let prompter = tokens.prompter();
    for p in &problems {
        prompter.warn(
            p,
            "the secret was restored from the other shares: find out why this file was set \
             aside, and make a new set (`custody reshare`) if its share is lost to the set",
        );
    }
    Ok(SetCheck::Whole(OpenedBackup {
        secret,
        set_id,
        fingerprint: common.fingerprint,
        weak_kdf: members.iter().any(|(_, lf)| lf.file.own.kdf.is_weak()),
        opened_with: good
            .iter()
            .map(|g| officer_name(&first.file, g.index))
            .collect::<Vec<_>>()
            .join(", "),
        label: common.label.clone(),
        opened_by: good.iter().map(|g| g.key.clone()).collect(),
        checked,
    }))
}
