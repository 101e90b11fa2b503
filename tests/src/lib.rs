//! Emulators of external servers used by the black-box tests.
