//! CloudWatch Logs.

use aws_sdk_cloudwatchlogs::Client;

use super::errors::{class_of, AwsResultExt, ErrorClass};

/// The last `count` lines of a stream (empty when the stream does not exist).
pub async fn last_lines(
    client: &Client,
    group: &str,
    stream: &str,
    count: i32,
) -> anyhow::Result<Vec<String>> {
    let result = client
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(stream)
        .start_from_head(false)
        .limit(count)
        .send()
        .await
        .aws_context(|| format!("reading log stream {stream} of {group}"));
    match result {
        Ok(output) => Ok(output
            .events()
            .iter()
            .filter_map(|event| {
                event
                    .message()
                    .map(|message| message.trim_end().to_string())
            })
            .collect()),
        Err(error) if class_of(&error) == Some(ErrorClass::NotFound) => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}
