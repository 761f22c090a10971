//! The per-share parts of a split request: officers, hints and tokens given once for all shares
//! or once per share.

use std::path::PathBuf;

use custody::TokenLocator;

use super::{Failure, locators};

/// Values given once apply to every share; given N times, one each in order.
pub fn per_share<T: Clone>(v: &[T], n: usize, flag: &str) -> Result<Vec<Option<T>>, Failure> {
    match v.len() {
        0 => Ok(vec![None; n]),
        1 => Ok(vec![Some(v[0].clone()); n]),
        k if k == n => Ok(v.iter().cloned().map(Some).collect()),
        k => Err(Failure::usage(format!(
            "{k} {flag} for {n} --out: give one per share, in --out order, or a single one for all"
        ))),
    }
}

/// One share per --out, with its officer, hint and tokens.
pub fn share_specs(
    outs: &[PathBuf],
    officers: &[Option<String>],
    hints: &[Option<String>],
    tokens: &[TokenLocator],
    share_tokens: &[Option<Vec<TokenLocator>>],
) -> Vec<custody::ShareSpec> {
    outs.iter()
        .enumerate()
        .map(|(i, out)| custody::ShareSpec {
            out: custody::Output::Path(out.clone()),
            officer: officers[i].clone().unwrap_or_default(),
            hint: hints[i].clone(),
            keys: share_tokens[i]
                .clone()
                .unwrap_or_else(|| tokens.to_vec())
                .into_iter()
                .map(custody::KeySpec::Locator)
                .collect(),
        })
        .collect()
}

/// The tokens of every share: `--token` for all, `--share-token I=URI` instead for share I.
type ShareTokens = (Vec<TokenLocator>, Vec<Option<Vec<TokenLocator>>>);

pub fn tokens_for_shares(
    tokens: &[String],
    share: &[String],
    n: usize,
) -> Result<ShareTokens, Failure> {
    let tokens = locators(tokens)?;
    let share_tokens = share_tokens(share, n)?;
    if tokens.is_empty() && share_tokens.iter().any(Option::is_none) {
        return Err(Failure::usage(
            "give --token (for every share), or --share-token I=URI for every share",
        ));
    }
    Ok((tokens, share_tokens))
}

fn share_tokens(raw: &[String], n: usize) -> Result<Vec<Option<Vec<TokenLocator>>>, Failure> {
    let mut out: Vec<Option<Vec<TokenLocator>>> = vec![None; n];
    for st in raw {
        let (i, uri) = st.split_once('=').ok_or_else(|| {
            Failure::usage(format!(
                "--share-token {}: expected I=URI",
                custody::display_escaped(st)
            ))
        })?;
        let i: usize = i
            .parse()
            .ok()
            .filter(|i| (1..=n).contains(i))
            .ok_or_else(|| {
                Failure::usage(format!(
                    "--share-token {}: I must be 1..={n}",
                    custody::display_escaped(st)
                ))
            })?;
        let loc = uri
            .parse::<TokenLocator>()
            .map_err(|e| Failure::usage(format!("--share-token {i}: {e}")))?;
        out[i - 1].get_or_insert_with(Vec::new).push(loc);
    }
    Ok(out)
}
