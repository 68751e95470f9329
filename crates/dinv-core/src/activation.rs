//! Element-wise transfer functions `g` of Eq. (1) and their derivatives `g'`.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Activation {
    Linear,
    Tanh,
}

impl Activation {
    #[inline]
    pub fn apply(self, a: f64) -> f64 {
        match self {
            Activation::Linear => a,
            Activation::Tanh => crate::kernels::tanh::tanh(a),
        }
    }

    /// `g'(a)`.
    #[inline]
    pub fn derivative(self, a: f64) -> f64 {
        match self {
            Activation::Linear => 1.0,
            Activation::Tanh => {
                let t = crate::kernels::tanh::tanh(a);
                1.0 - t * t
            }
        }
    }

    /// `g'` expressed through the output `h = g(a)`, which saves a second `tanh`.
    #[inline]
    pub fn derivative_from_output(self, h: f64) -> f64 {
        match self {
            Activation::Linear => 1.0,
            Activation::Tanh => 1.0 - h * h,
        }
    }

    /// `g` of every element, in place (vectorises for `tanh`).
    pub fn apply_in_place(self, xs: &mut [f64]) {
        if self == Activation::Tanh {
            crate::kernels::tanh::tanh_in_place(xs);
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Activation::Linear => "linear",
            Activation::Tanh => "tanh",
        }
    }
}
