//! Reading a file to open: from a path or from bytes, strictly, or (when asked) as the original
//! bytes of a Windows text-mode copy.

#[allow(unused_imports)]
use super::*;

/// A file read and checked for damage, not yet opened.
pub struct LoadedFile {
    /// Where it was read from (or its name, for bytes).
    pub path: PathBuf,
    /// Its fields.
    pub file: BackupFile,
    /// Its bytes, with the regions the cryptography covers.
    pub enc: Encoded,
    /// `Some` when the file is a Windows text-mode copy read as the bytes it was made from
    /// (only with [`LoadOptions::repair_text_copies`]); `enc` then holds those bytes.
    pub text_copy: Option<TextCopy>,
}

impl LoadedFile {
    /// What to tell a person when this file was read as the original of a text-mode copy.
    pub fn text_copy_notice(&self) -> Option<String> {
        self.text_copy
            .as_ref()
            .map(|_| text_copy_notice(&self.path))
    }
}

/// How a file is read. The default is the strict v1 reader alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// When the strict reader refuses a file as damaged or as not a backup, and the file is a
    /// Windows text-mode copy (every line ending in CRLF, or a UTF-8 byte-order mark first, or
    /// both) of a file whose checksum is right, read it as the bytes it was made from
    /// (docs/FORMAT.md, "Text-mode copies (not part of v1)"). The caller says so to the person:
    /// see [`LoadedFile::text_copy_notice`].
    pub repair_text_copies: bool,
}

/// A file read as the bytes a Windows text-mode copy was made from: both digests, so that a
/// record can name the file as it was found and as it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextCopy {
    /// SHA-256 of the file's bytes as read from the medium.
    pub read_sha256: [u8; 32],
    /// SHA-256 of the repaired bytes, the file as custody wrote it.
    pub repaired_sha256: [u8; 32],
}

/// The one sentence every message about a repaired text-mode copy says.
pub fn text_copy_notice(file: &Path) -> String {
    format!(
        "{} is a Windows (CRLF/BOM) copy, read as its original bytes",
        file.display()
    )
}

/// Read and parse a file (at most 1 MiB: no backup is larger); nothing is opened.
pub fn load(path: &Path) -> Result<LoadedFile, OpenFileError> {
    load_with(path, LoadOptions::default())
}

/// [`load`], reading as `options` say.
pub fn load_with(path: &Path, options: LoadOptions) -> Result<LoadedFile, OpenFileError> {
    let bytes = media::read_bounded(path, format::MAX_FILE_BYTES).map_err(|error| match error {
        // No backup is that large: say so with the exit code of an invalid file.
        MediaError::TooLarge { .. } => OpenFileError::Format {
            file: path.to_owned(),
            error: FormatError::Invalid {
                line: 0,
                reason: format!(
                    "it is larger than {} bytes, more than any custody backup",
                    format::MAX_FILE_BYTES
                ),
            },
        },
        error => OpenFileError::Read {
            file: path.to_owned(),
            error,
        },
    })?;
    load_bytes_with(path, &bytes, options)
}

/// Parse a file already in memory; `name` is what messages call it.
pub fn load_bytes(name: &Path, bytes: &[u8]) -> Result<LoadedFile, OpenFileError> {
    load_bytes_with(name, bytes, LoadOptions::default())
}

/// [`load_bytes`], reading as `options` say.
pub fn load_bytes_with(
    name: &Path,
    bytes: &[u8],
    options: LoadOptions,
) -> Result<LoadedFile, OpenFileError> {
    if bytes.len() as u64 > format::MAX_FILE_BYTES {
        return Err(OpenFileError::Format {
            file: name.to_owned(),
            error: FormatError::Invalid {
                line: 0,
                reason: format!(
                    "it is larger than {} bytes, more than any custody backup",
                    format::MAX_FILE_BYTES
                ),
            },
        });
    }
    let error = match format::parse(bytes) {
        Ok((file, enc)) => {
            return Ok(LoadedFile {
                path: name.to_owned(),
                file,
                enc,
                text_copy: None,
            });
        }
        Err(error) => error,
    };
    // The strict verdict stands unless the caller asked for the repair and it applies.
    let Some(original) = options
        .repair_text_copies
        .then(|| format::repair_text_copy(bytes))
        .flatten()
    else {
        return Err(OpenFileError::Format {
            file: name.to_owned(),
            error,
        });
    };
    // The repaired bytes go through the strict reader like any file.
    let (file, enc) = format::parse(&original).map_err(|error| OpenFileError::TextCopy {
        file: name.to_owned(),
        error,
    })?;
    Ok(LoadedFile {
        path: name.to_owned(),
        file,
        enc,
        // The checksum function is plain SHA-256 (docs/FORMAT.md §4.12).
        text_copy: Some(TextCopy {
            read_sha256: crypto::checksum(bytes),
            repaired_sha256: crypto::checksum(&original),
        }),
    })
}

/// Read and parse a file from wherever it comes.
pub fn load_input(input: &Input) -> Result<LoadedFile, OpenFileError> {
    load_input_with(input, LoadOptions::default())
}

/// [`load_input`], reading as `options` say.
pub fn load_input_with(input: &Input, options: LoadOptions) -> Result<LoadedFile, OpenFileError> {
    match input {
        Input::Path(p) => load_with(p, options),
        Input::Bytes { name, bytes } => load_bytes_with(name, bytes, options),
    }
}

/// Tell the person when a file was read as the original of a text-mode copy.
pub(crate) fn announce_text_copy(lf: &LoadedFile, prompter: &mut dyn Prompter) {
    if let Some(notice) = lf.text_copy_notice() {
        prompter.warn(
            &notice,
            "copy the original again in binary mode and keep that copy instead",
        );
    }
}
