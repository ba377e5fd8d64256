//! Frozen-backbone features computed once: each image's feature map from a frozen pretrained
//! backbone, kept on disk and attached to the prepared examples, so that training and
//! evaluation run only the GSHN part on top of it.
//!
//! A cache entry's key is the SHA-256 of: a format version, the backbone's description (name,
//! input size, tapped block), a SHA-256 of all the backbone's weights, and the image's size and
//! RGB bytes. Any change — another image, another tap or input size, other weights — gives
//! another key, so a stale entry is never read (old entries are simply left behind; delete the
//! folder to reclaim the space). Files are `<dir>/<key[0..2]>/<key>.f32`: an 80-byte header
//! (`GSHNFEA2`, then `u16` C, H, W and a `u16` 0, little-endian; the entry's key (32 bytes);
//! the SHA-256 of the values (32 bytes)) and `C·H·W` little-endian `f32`; written to a
//! temporary name and renamed, so that a killed run leaves no torn entry. An entry whose key
//! or checksum does not match (a damaged, edited or misplaced file, or one of the first
//! format) is a miss: computed again, written over, and counted in [`CacheStats::rejected`].

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor, TensorData};
use sha2::{Digest, Sha256};

use super::backbone::{EfficientNetBackbone, ImageBackbone};
use super::weights::hex;
use crate::dataset::{planar_pixels, Features, Prepared};
use crate::error::{bad_input, Result};

const MAGIC: &[u8; 8] = b"GSHNFEA2";
const HEADER: usize = 80;
const VERSION: &str = "gshn-feature-cache v1";

/// What [`FeatureCache::attach`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CacheStats {
    /// Feature maps read from the cache.
    pub hits: usize,
    /// Feature maps computed (and written, with a cache folder).
    pub computed: usize,
    /// Entries found but refused (their key or checksum did not match): computed again.
    pub rejected: usize,
    /// Why the first refused entry was refused, naming its file.
    pub first_rejection: Option<String>,
    /// Seconds spent.
    pub seconds: f64,
}

/// A frozen backbone's feature maps, on disk when given a folder.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: Option<PathBuf>,
    backbone_key: Vec<u8>,
    /// The backbone's description and weight hash, as hashed into every key.
    pub description: String,
}

struct WeightHash(Sha256);

impl ModuleVisitor for WeightHash {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let t = param.val();
        for d in t.dims() {
            self.0.update((d as u64).to_le_bytes());
        }
        let data = t.into_data().convert::<f32>();
        for v in data.as_slice::<f32>().expect("f32 data") {
            self.0.update(v.to_le_bytes());
        }
    }
}

/// SHA-256 (hex) of every float parameter of `module`, shapes included, in visiting order.
pub fn weights_sha256<M: Module>(module: &M) -> String {
    let mut h = WeightHash(Sha256::new());
    module.visit(&mut h);
    hex(&h.0.finalize())
}

impl CacheStats {
    /// Adds `other`'s counts and time to these (the first rejection kept).
    pub fn merge(&mut self, other: CacheStats) {
        self.hits += other.hits;
        self.computed += other.computed;
        self.rejected += other.rejected;
        self.seconds += other.seconds;
        if self.first_rejection.is_none() {
            self.first_rejection = other.first_rejection;
        }
    }
}

impl FeatureCache {
    /// The cache of `backbone`'s feature maps in `dir` (`None`: computed in memory only).
    pub fn new(backbone: &EfficientNetBackbone, dir: Option<&Path>) -> Self {
        let description =
            format!("efficientnet-lite0 input={} tap-block={} weights-sha256={}", backbone.input_size, backbone.tap_block, weights_sha256(&backbone.net));
        let mut h = Sha256::new();
        h.update(VERSION.as_bytes());
        h.update([0]);
        h.update(description.as_bytes());
        Self { dir: dir.map(Path::to_path_buf), backbone_key: h.finalize().to_vec(), description }
    }

    /// The key of an image.
    pub fn key(&self, image: &image::RgbImage) -> String {
        let mut h = Sha256::new();
        h.update(&self.backbone_key);
        h.update(image.width().to_le_bytes());
        h.update(image.height().to_le_bytes());
        h.update(image.as_raw());
        hex(&h.finalize())
    }

    fn path(&self, key: &str) -> Option<PathBuf> {
        self.dir.as_ref().map(|d| d.join(&key[..2]).join(format!("{key}.f32")))
    }

    /// Reads an entry: `Ok(None)` when absent, `Err(why)` (naming the file) when present but
    /// not provably this key's values.
    pub fn read(&self, key: &str) -> std::result::Result<Option<Features>, String> {
        let Some(path) = self.path(key) else { return Ok(None) };
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let refuse = |why: &str| Err(format!("{}: {why}", path.display()));
        if bytes.len() < HEADER || &bytes[..8] != MAGIC {
            return refuse("not a feature-cache entry of this version");
        }
        let u = |i: usize| u16::from_le_bytes([bytes[8 + 2 * i], bytes[9 + 2 * i]]) as usize;
        let shape = [u(0), u(1), u(2)];
        let n = shape.iter().product::<usize>();
        if bytes.len() != HEADER + 4 * n {
            return refuse("its length does not match its shape");
        }
        if hex(&bytes[16..48]) != key {
            return refuse("it holds another image's key");
        }
        if bytes[48..80] != Sha256::digest(&bytes[HEADER..])[..] {
            return refuse("its values do not match their checksum");
        }
        let values = bytes[HEADER..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        Ok(Some(Features { shape, values: Arc::new(values) }))
    }

    /// Writes an entry (temporary file, then rename).
    pub fn write(&self, key: &str, f: &Features) -> std::io::Result<()> {
        let Some(path) = self.path(key) else { return Ok(()) };
        let dir = path.parent().expect("a sub-folder");
        std::fs::create_dir_all(dir)?;
        let tmp = dir.join(format!(".{key}.{}.tmp", std::process::id()));
        let mut payload = Vec::with_capacity(4 * f.values.len());
        for v in f.values.iter() {
            payload.extend_from_slice(&v.to_le_bytes());
        }
        let key_bytes = (0..key.len() / 2)
            .map(|i| u8::from_str_radix(&key[2 * i..2 * i + 2], 16))
            .collect::<std::result::Result<Vec<u8>, _>>()
            .map_err(std::io::Error::other)?;
        let mut bytes = Vec::with_capacity(HEADER + payload.len());
        bytes.extend_from_slice(MAGIC);
        for d in f.shape {
            bytes.extend_from_slice(&u16::try_from(d).map_err(std::io::Error::other)?.to_le_bytes());
        }
        bytes.extend_from_slice(&[0, 0]);
        bytes.extend_from_slice(&key_bytes);
        bytes.extend_from_slice(&Sha256::digest(&payload));
        bytes.extend_from_slice(&payload);
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        drop(file);
        std::fs::rename(&tmp, &path)
    }

    /// Gives every example in `items` its feature map: read from the cache, or computed by
    /// `backbone` (in batches of `batch` images on `device`, without autodiff) and written to
    /// it. Errors when the images differ in size within a computed batch. `progress(done, todo)`
    /// is called after each computed batch.
    pub fn attach(
        &self,
        backbone: &EfficientNetBackbone,
        items: &mut [Prepared],
        batch: usize,
        device: &Device,
        progress: &dyn Fn(usize, usize),
    ) -> Result<CacheStats> {
        let start = Instant::now();
        let mut stats = CacheStats::default();
        let mut todo = Vec::new();
        for (i, p) in items.iter_mut().enumerate() {
            let key = self.key(&p.example.image);
            // An entry of another shape than the backbone gives this image (a damaged file)
            // is a miss: computed again and written over.
            let expected = backbone.feature_shape();
            let found = self.read(&key).and_then(|f| match f {
                Some(f) if expected.is_some_and(|e| f.shape != e) => {
                    Err(format!("{}: holds a {:?} map where the backbone gives {:?}", self.path(&key).unwrap_or_default().display(), f.shape, expected))
                }
                other => Ok(other),
            });
            match found {
                Ok(Some(f)) => {
                    p.features = Some(f);
                    stats.hits += 1;
                }
                Ok(None) => todo.push((i, key)),
                Err(why) => {
                    stats.rejected += 1;
                    stats.first_rejection.get_or_insert(why);
                    todo.push((i, key));
                }
            }
        }
        if !todo.is_empty() {
            let plain = device.clone().inner();
            let net = backbone.valid();
            for chunk in todo.chunks(batch.max(1)) {
                let (w, h) = items[chunk[0].0].example.image.dimensions();
                let mut pixels = Vec::with_capacity(chunk.len() * 3 * (w * h) as usize);
                for (i, _) in chunk {
                    let img = &items[*i].example.image;
                    if img.dimensions() != (w, h) {
                        return Err(bad_input(format!("images of one data set must share a size: {}×{} and {w}×{h}", img.width(), img.height())));
                    }
                    pixels.extend(planar_pixels(img));
                }
                let x = Tensor::<4>::from_data(TensorData::new(pixels, [chunk.len(), 3, h as usize, w as usize]), &plain);
                let f = net.forward(x);
                let [_, c, fh, fw] = f.dims();
                let data = f.into_data().convert::<f32>();
                let all = data.as_slice::<f32>().map_err(|e| bad_input(format!("feature map: {e:?}")))?;
                let per = c * fh * fw;
                for (k, (i, key)) in chunk.iter().enumerate() {
                    let feat = Features { shape: [c, fh, fw], values: Arc::new(all[k * per..(k + 1) * per].to_vec()) };
                    self.write(key, &feat)
                        .map_err(|e| bad_input(format!("cannot write the feature cache {}: {e}", self.dir.as_deref().unwrap_or(Path::new("")).display())))?;
                    items[*i].features = Some(feat);
                    stats.computed += 1;
                }
                progress(stats.computed, todo.len());
            }
        }
        stats.seconds = start.elapsed().as_secs_f64();
        Ok(stats)
    }
}

impl ImageBackbone {
    /// The frozen pretrained backbone, if this is one (whose feature maps may be cached).
    pub fn frozen_pretrained(&self) -> Option<&EfficientNetBackbone> {
        match self {
            ImageBackbone::EfficientNet(e) if e.frozen => Some(e),
            _ => None,
        }
    }
}
