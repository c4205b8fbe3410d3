//! ECR: does the pushed image exist, and when was it pushed.

use aws_sdk_ecr::operation::describe_images::DescribeImagesError;
use aws_sdk_ecr::types::ImageIdentifier;
use greenlight_core::Error;
use greenlight_core::error::ResourceKind;
use greenlight_core::ports::{Image, Images};

use crate::error::{Specific, classify};

#[derive(Debug, Clone)]
pub struct EcrImages {
    client: aws_sdk_ecr::Client,
}

impl EcrImages {
    pub fn new(client: aws_sdk_ecr::Client) -> Self {
        Self { client }
    }

    async fn describe(&self, repository: &str, id: ImageIdentifier, name: &str) -> Result<Image, Error> {
        let out =
            self.client.describe_images().repository_name(repository).image_ids(id).send().await.map_err(|e| {
                classify("ecr:DescribeImages", e, |e| match e {
                    DescribeImagesError::ImageNotFoundException(_) => {
                        Specific::not_found(ResourceKind::Image, name, "it may have been deleted (or never pushed)")
                    }
                    DescribeImagesError::RepositoryNotFoundException(_) => Specific::not_found(
                        ResourceKind::Repository,
                        repository,
                        "check the service's `repository` in the manifest",
                    ),
                    _ => None,
                })
            })?;
        let detail = out.image_details().first().ok_or_else(|| Error::NotFound {
            kind: ResourceKind::Image,
            name: name.to_string(),
            hint: None,
            source: None,
        })?;
        Ok(Image {
            digest: detail.image_digest().unwrap_or_default().to_string(),
            tags: detail.image_tags().to_vec(),
            pushed_at: detail
                .image_pushed_at()
                .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
        })
    }
}

impl Images for EcrImages {
    async fn image(&self, repository: &str, digest: &str) -> Result<Image, Error> {
        self.describe(
            repository,
            ImageIdentifier::builder().image_digest(digest).build(),
            &format!("{repository}@{digest}"),
        )
        .await
    }

    /// The image `repository:tag` names now (`greenlight deploy --tag`).
    async fn image_tagged(&self, repository: &str, tag: &str) -> Result<Image, Error> {
        self.describe(repository, ImageIdentifier::builder().image_tag(tag).build(), &format!("{repository}:{tag}"))
            .await
    }
}
