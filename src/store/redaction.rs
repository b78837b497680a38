//! Redaction: a record's media reference erased, and the transcripts in stored check results
//! replaced by a mark.

use super::*;

/// Takes a row's media key and marks the row redacted, inside `tx`; None when the row is not
/// in the account.
pub(super) async fn erase_media(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    table: &str,
    account_id: &str,
    id: &str,
) -> Result<Option<Option<String>>, StoreError> {
    let select = format!("SELECT media_key FROM {table} WHERE account_id = $1 AND id = $2");
    let Some(row) = sqlx::query(audited(&select))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let update = format!(
        "UPDATE {table} SET media_key = NULL, redacted = 1, updated_at = $3 \
         WHERE account_id = $1 AND id = $2"
    );
    sqlx::query(audited(&update))
        .bind(account_id)
        .bind(id)
        .bind(now_text())
        .execute(&mut **tx)
        .await?;
    Ok(Some(row.get("media_key")))
}

/// Replaces the evidence of every voice challenge in a stored check result with a redaction
/// mark (the transcript, heard tokens and likelihoods are what the person said), and any other
/// text that quotes a transcript (reason messages) with `[redacted]`.
pub fn redact_voice_evidence(result: &mut serde_json::Value) {
    let Some(challenges) = result
        .pointer_mut("/breakdown/challenges")
        .and_then(|c| c.as_array_mut())
    else {
        return;
    };
    let mut heard = Vec::new();
    for c in challenges {
        if c.get("type").and_then(|t| t.as_str()) == Some("voice") {
            if let Some(t) = c.pointer("/evidence/transcript").and_then(|t| t.as_str()) {
                if !t.trim().is_empty() {
                    heard.push(t.to_string());
                }
            }
            if let Some(obj) = c.as_object_mut() {
                obj.insert("evidence".into(), serde_json::json!({"redacted": true}));
            }
        }
    }
    scrub_strings(result, &heard);
}

fn scrub_strings(value: &mut serde_json::Value, heard: &[String]) {
    match value {
        serde_json::Value::String(s) if heard.iter().any(|h| s.contains(h.as_str())) => {
            *s = "[redacted]".into();
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| scrub_strings(v, heard)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| scrub_strings(v, heard)),
        _ => {}
    }
}
