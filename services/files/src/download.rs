//! Reading files back: by their owner (or an admin), by signed link, or by
//! the jobs service; and making signed links.

use std::ops::Range;

use fip_kit::auth::UserPrincipal;

use crate::error::{FilesError, invalid};
use crate::files::Files;
use crate::objects::ChunkStream;
use crate::store::FileRecord;

/// Lifetime of a user's download link when the request leaves it at 0.
pub const DEFAULT_LINK_TTL_SECONDS: i64 = 300;
/// Longest lifetime of a user's download link.
pub const MAX_LINK_TTL_SECONDS: i64 = 3600;
/// Lifetime of a link for an external server when the request leaves it at 0.
pub const DEFAULT_JOB_LINK_TTL_SECONDS: i64 = 86_400;
/// Longest lifetime of a link for an external server (7 days).
pub const MAX_JOB_LINK_TTL_SECONDS: i64 = 604_800;

/// The bytes `offset` and `length` select from a file of `size` bytes
/// (`length` 0: to the end; a range past the end is cut at the end).
pub fn byte_range(size: i64, offset: i64, length: i64) -> Result<Range<u64>, FilesError> {
    if offset < 0 {
        return Err(invalid("offset", "must not be negative"));
    }
    if length < 0 {
        return Err(invalid("length", "must not be negative"));
    }
    if offset > size {
        return Err(invalid(
            "offset",
            format!("is beyond the end of the file ({size} bytes)"),
        ));
    }
    let end = if length == 0 {
        size
    } else {
        offset.saturating_add(length).min(size)
    };
    Ok(offset as u64..end as u64)
}

/// A signed link: its token and when it stops working (UTC milliseconds).
#[derive(Debug, Clone, PartialEq)]
pub struct SignedLink {
    pub token: String,
    pub expires_at: i64,
}

impl Files {
    /// Streams the selected bytes of `file`, unless retention took them.
    pub async fn open(
        &self,
        file: &FileRecord,
        offset: i64,
        length: i64,
    ) -> Result<ChunkStream, FilesError> {
        if file.is_expired(self.clock.now_millis()) {
            return Err(FilesError::ResultsExpired {
                file_id: file.id.clone(),
                expired_at: file
                    .expires_at
                    .or(file.content_deleted_at)
                    .unwrap_or_default(),
            });
        }
        let range = byte_range(file.size_bytes, offset, length)?;
        self.objects.read(&file.object_key, range).await
    }

    /// A file the user may see, and its selected bytes.
    pub async fn download(
        &self,
        user: &UserPrincipal,
        id: &str,
        offset: i64,
        length: i64,
    ) -> Result<(FileRecord, ChunkStream), FilesError> {
        let file = self.get(user, id).await?;
        let chunks = self.open(&file, offset, length).await?;
        Ok((file, chunks))
    }

    /// Any file (the jobs service), and its selected bytes.
    pub async fn read_any(
        &self,
        id: &str,
        offset: i64,
        length: i64,
    ) -> Result<(FileRecord, ChunkStream), FilesError> {
        let file = self.existing(id).await?;
        let chunks = self.open(&file, offset, length).await?;
        Ok((file, chunks))
    }

    /// The file a signed link grants, and its selected bytes.
    pub async fn download_by_link(
        &self,
        token: &str,
        offset: i64,
        length: i64,
    ) -> Result<(FileRecord, ChunkStream), FilesError> {
        let id = self.links.verify(token, self.clock.now_millis())?;
        let file = self.existing(&id).await?;
        let chunks = self.open(&file, offset, length).await?;
        Ok((file, chunks))
    }

    fn sign(&self, file: &FileRecord, ttl_seconds: i64) -> SignedLink {
        let expires_at_secs = self.clock.now_millis().div_euclid(1000) + ttl_seconds;
        SignedLink {
            token: self.links.sign(&file.id, expires_at_secs),
            expires_at: expires_at_secs * 1000,
        }
    }

    /// A short-lived link to a file the user may see; its path on the hub
    /// is `/api/downloads/<token>`.
    pub async fn create_link(
        &self,
        user: &UserPrincipal,
        id: &str,
        ttl_seconds: i64,
    ) -> Result<SignedLink, FilesError> {
        let ttl = ttl_in(
            "ttl_seconds",
            ttl_seconds,
            DEFAULT_LINK_TTL_SECONDS,
            MAX_LINK_TTL_SECONDS,
        )?;
        let file = self.get(user, id).await?;
        let link = self.sign(&file, ttl);
        tracing::info!(file_id = %file.id, user_id = user.id, ttl_seconds = ttl, "download link created");
        Ok(link)
    }

    /// A link for an external server, as an absolute URL on the hub's
    /// public base URL.
    pub async fn create_job_link(
        &self,
        id: &str,
        ttl_seconds: i64,
    ) -> Result<(String, SignedLink), FilesError> {
        let ttl = ttl_in(
            "ttl_seconds",
            ttl_seconds,
            DEFAULT_JOB_LINK_TTL_SECONDS,
            MAX_JOB_LINK_TTL_SECONDS,
        )?;
        let file = self.existing(id).await?;
        let Some(base) = &self.settings.public_base_url else {
            return Err(FilesError::NotSupported {
                message: "no public base URL is configured (files.public_base_url): \
                          external servers cannot be given links"
                    .into(),
                operation: "CreateJobFileLink",
            });
        };
        let link = self.sign(&file, ttl);
        tracing::info!(file_id = %file.id, ttl_seconds = ttl, "external download link created");
        Ok((link_url(base, &link.token), link))
    }
}

/// `<base>/api/downloads/<token>` (base empty: the path alone).
pub fn link_url(base: &str, token: &str) -> String {
    format!("{base}/api/downloads/{token}")
}

fn ttl_in(field: &str, value: i64, default: i64, max: i64) -> Result<i64, FilesError> {
    match value {
        0 => Ok(default),
        v if (1..=max).contains(&v) => Ok(v),
        _ => Err(invalid(
            field,
            format!("must be between 1 and {max} seconds"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_select_and_clip() {
        assert_eq!(byte_range(10, 0, 0).unwrap(), 0..10);
        assert_eq!(byte_range(10, 3, 4).unwrap(), 3..7);
        assert_eq!(byte_range(10, 3, 100).unwrap(), 3..10);
        assert_eq!(byte_range(10, 10, 0).unwrap(), 10..10);
        assert_eq!(byte_range(0, 0, 0).unwrap(), 0..0);
        assert_eq!(byte_range(10, 2, i64::MAX).unwrap(), 2..10);
        for (offset, length) in [(11, 0), (-1, 0), (0, -1)] {
            assert!(matches!(
                byte_range(10, offset, length),
                Err(FilesError::Validation(_))
            ));
        }
    }

    #[test]
    fn ttls_default_and_are_bounded() {
        assert_eq!(ttl_in("t", 0, 300, 3600).unwrap(), 300);
        assert_eq!(ttl_in("t", 3600, 300, 3600).unwrap(), 3600);
        assert!(ttl_in("t", 3601, 300, 3600).is_err());
        assert!(ttl_in("t", -5, 300, 3600).is_err());
    }
}
