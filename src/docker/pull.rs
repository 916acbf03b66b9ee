//! Getting the image onto the engine according to the pull policy, streaming the
//! engine's progress messages to the caller, and catching pull errors whether the engine
//! reports them before the stream starts or in the middle of it.

use bollard::models::CreateImageInfo;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use super::{DockerError, Engine, api, is_status};

/// When to pull the app image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum PullPolicy {
    /// Pull every time, failing if the pull fails
    Always,
    /// Pull only when the engine lacks the image
    #[default]
    Missing,
    /// Never pull; fail if the engine lacks the image
    Never,
}

/// The image's id on the engine, pulling it first as the policy says. `on_progress`
/// sees every progress message of a pull.
pub async fn ensure_image(
    engine: &Engine,
    reference: &str,
    policy: PullPolicy,
    on_progress: &mut dyn FnMut(&CreateImageInfo),
) -> Result<(String, bool), DockerError> {
    let local = local_id(engine, reference).await?;
    let pull = match (policy, &local) {
        (PullPolicy::Always, _) | (PullPolicy::Missing, None) => true,
        (PullPolicy::Never, None) => {
            return Err(DockerError::ImageMissing {
                image: reference.to_string(),
            });
        }
        _ => false,
    };
    if !pull {
        return Ok((local.expect("checked above"), false));
    }
    pull_image(engine, reference, on_progress).await?;
    let id = local_id(engine, reference)
        .await?
        .ok_or_else(|| DockerError::PullFailed {
            image: reference.to_string(),
            message: "the engine reported success but has no such image".into(),
        })?;
    Ok((id, true))
}

/// The id of a local image, or `None` when the engine lacks it.
pub async fn local_id(engine: &Engine, reference: &str) -> Result<Option<String>, DockerError> {
    match engine.docker.inspect_image(reference).await {
        Ok(image) => Ok(image.id),
        Err(e) if is_status(&e, 404) => Ok(None),
        Err(e) => Err(api(format!("inspecting image {reference}"))(e)),
    }
}

/// Pulls one image, by tag (default `latest`) or digest.
async fn pull_image(
    engine: &Engine,
    reference: &str,
    on_progress: &mut dyn FnMut(&CreateImageInfo),
) -> Result<(), DockerError> {
    let (repository, tag) = split_reference(reference);
    let options = CreateImageOptionsBuilder::default()
        .from_image(repository)
        .tag(tag)
        .build();
    let stream = engine.docker.create_image(Some(options), None, None);
    follow(stream, on_progress)
        .await
        .map_err(|message| DockerError::PullFailed {
            image: reference.to_string(),
            message,
        })
}

/// Reads a pull's progress stream to its end. The engine reports a failure either as an
/// error response before the stream starts (bad name, unreachable registry) or as an
/// `errorDetail` message in the middle of it; both end the pull with their message.
pub async fn follow<S>(
    mut stream: S,
    on_progress: &mut dyn FnMut(&CreateImageInfo),
) -> Result<(), String>
where
    S: futures_util::Stream<Item = Result<CreateImageInfo, bollard::errors::Error>> + Unpin,
{
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = &info.error_detail {
                    return Err(detail.message.clone().unwrap_or_default());
                }
                on_progress(&info);
            }
            Err(bollard::errors::Error::DockerResponseServerError { message, .. }) => {
                return Err(message);
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => return Err(error),
            Err(other) => return Err(other.to_string()),
        }
    }
    Ok(())
}

/// `repo[:tag]` or `repo@digest` into what the create-image call takes. A `:` before the
/// last `/` belongs to a registry port, not a tag.
pub fn split_reference(reference: &str) -> (&str, &str) {
    // A digest reference carries its own version: no tag goes with it.
    if reference.contains('@') {
        return (reference, "");
    }
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(i) => (
            &reference[..name_start + i],
            &reference[name_start + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream;

    fn message(json: &str) -> Result<CreateImageInfo, bollard::errors::Error> {
        Ok(serde_json::from_str(json).unwrap())
    }

    #[tokio::test]
    async fn errors_before_and_during_the_stream_end_the_pull() {
        let mut seen = Vec::new();
        let before = stream::iter(vec![Err(
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message: "pull access denied for nope".into(),
            },
        )]);
        let err = follow(before, &mut |i| seen.push(i.clone()))
            .await
            .unwrap_err();
        assert_eq!(err, "pull access denied for nope");
        assert!(seen.is_empty());

        let during = stream::iter(vec![
            message(r#"{"status":"Pulling fs layer","progressDetail":{},"id":"a1"}"#),
            message(r#"{"errorDetail":{"message":"unexpected EOF"},"error":"unexpected EOF"}"#),
            message(r#"{"status":"never shown","id":"a1"}"#),
        ]);
        let err = follow(during, &mut |i| seen.push(i.clone()))
            .await
            .unwrap_err();
        assert_eq!(err, "unexpected EOF");
        assert_eq!(seen.len(), 1, "progress up to the error, nothing after");

        let fine = stream::iter(vec![message(r#"{"status":"Status: Image is up to date"}"#)]);
        assert!(follow(fine, &mut |_| {}).await.is_ok());
    }

    #[test]
    fn references_split_at_the_tag_only() {
        assert_eq!(
            split_reference("docker.openhands.dev/openhands/openhands:1.8"),
            ("docker.openhands.dev/openhands/openhands", "1.8")
        );
        assert_eq!(
            split_reference("localhost:5000/app"),
            ("localhost:5000/app", "latest")
        );
        assert_eq!(
            split_reference("localhost:5000/app:v2"),
            ("localhost:5000/app", "v2")
        );
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(split_reference("app@sha256:abc"), ("app@sha256:abc", ""));
    }
}
