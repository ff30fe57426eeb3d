//! The boleto PDF (to be written).
