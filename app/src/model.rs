//! The model: an ONNX graph run with tract, loaded from a file at start-up.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tract_onnx::prelude::*;

/// Iris measurements, in centimetres.
pub const FEATURES: usize = 4;

type Plan = Arc<TypedRunnableModel>;

pub struct Model {
    plan: Plan,
    pub classes: Vec<String>,
    pub path: PathBuf,
    pub sha256: String,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("path", &self.path)
            .field("classes", &self.classes)
            .finish()
    }
}

/// One prediction: the most likely class and every class's probability.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub class: String,
    pub index: usize,
    pub probabilities: Vec<f32>,
}

impl Model {
    pub fn load(path: &Path) -> anyhow::Result<Model> {
        let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read model {}: {e}", path.display()))?;
        let proto = tract_onnx::onnx()
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(|e| anyhow::anyhow!("{} is not an ONNX model: {e}", path.display()))?;
        let classes: Vec<String> = proto
            .metadata_props
            .iter()
            .find(|p| p.key == "classes")
            .map(|p| p.value.split(',').map(str::to_string).collect())
            .ok_or_else(|| anyhow::anyhow!("{} has no `classes` metadata", path.display()))?;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut bytes.as_slice())
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| anyhow::anyhow!("cannot prepare model {}: {e}", path.display()))?;
        let sha256 = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        Ok(Model {
            plan,
            classes,
            path: path.to_path_buf(),
            sha256,
        })
    }

    /// Classify a batch of rows of [`FEATURES`] finite values each.
    pub fn predict(&self, rows: &[[f32; FEATURES]]) -> anyhow::Result<Vec<Prediction>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let input = Tensor::from_shape(&[rows.len(), FEATURES], &flat)?;
        let outputs = self.plan.run(tvec!(input.into()))?;
        let probabilities = outputs[0].to_plain_array_view::<f32>()?;
        let classes = self.classes.len();
        let values: Vec<f32> = probabilities.iter().copied().collect();
        anyhow::ensure!(
            values.len() == rows.len() * classes,
            "the model returned {} values for {} rows",
            values.len(),
            rows.len()
        );
        Ok(values
            .chunks(classes)
            .map(|p| {
                let index = p
                    .iter()
                    .enumerate()
                    .max_by(|a, b| a.1.total_cmp(b.1))
                    .map_or(0, |(i, _)| i);
                Prediction {
                    class: self.classes[index].clone(),
                    index,
                    probabilities: p.to_vec(),
                }
            })
            .collect())
    }
}
