//! rejections tests.
