//! Queries assembled at run time with `$N` placeholders, which both the
//! SQLite and the PostgreSQL drivers bind by number.

use sqlx::Arguments;
use sqlx::any::AnyArguments;

/// SQL text and its bound values.
pub(super) struct Sql {
    text: String,
    args: AnyArguments<'static>,
    count: usize,
}

impl Sql {
    pub(super) fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            args: AnyArguments::default(),
            count: 0,
        }
    }

    /// Appends SQL text.
    pub(super) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub(super) fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        self.count += 1;
        self.text.push_str(&format!("${}", self.count));
        self.args
            .add(value)
            .expect("encoding a plain value into AnyArguments cannot fail");
        self
    }

    /// Appends `$a, $b, ...` bound to `values`.
    pub(super) fn bind_all<T>(&mut self, values: impl IntoIterator<Item = T>) -> &mut Self
    where
        T: 'static + Send + sqlx::Encode<'static, sqlx::Any> + sqlx::Type<sqlx::Any>,
    {
        for (i, value) in values.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(value);
        }
        self
    }

    pub(super) fn build(self) -> (String, AnyArguments<'static>) {
        (self.text, self.args)
    }
}
