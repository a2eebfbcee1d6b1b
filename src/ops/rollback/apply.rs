//! Carrying out a rollback: services pointed back, waited for, recorded.

use std::time::Duration;

use futures_util::future::join_all;

use super::plan::{RollbackPlan, ServicePlan};
use super::{wait_back, Back, ROLLBACK_PREFIX};
use crate::aws::{ecs, ssm, Aws};
use crate::config::StackConfig;
use crate::ops::ids::release_id;
use crate::ops::rollout_wait::seen_events;
use crate::release::history::{self, Outcome, ReleaseRecord};
use crate::secret::Secret;
use crate::ui::Printer;

/// How one service's rollback ended.
pub struct RolledBack {
    pub service: String,
    /// The revision it ran (its ARN).
    pub from: String,
    /// The revision it was pointed at (its ARN).
    pub to: String,
    pub back: Back,
}

/// Carry out a planned rollback: make the removed cookies again, point every
/// service at its target at once (one slow rollout must not hold the others
/// back for its whole timeout), record each release before and after its
/// wait. A rollout's failure is in its result, not an error.
pub async fn apply(
    printer: &Printer,
    aws: &Aws,
    stack: &StackConfig,
    plan: RollbackPlan,
    timeout: Duration,
) -> anyhow::Result<Vec<RolledBack>> {
    let ssm_client = aws.ssm();
    for name in &plan.cookies_to_make {
        ssm::create_secret(
            &ssm_client,
            name,
            Secret::generate(crate::release::cookie::COOKIE_LENGTH),
            "Erlang distribution cookie (stackup)",
            &crate::secrets_key::key_alias(stack),
        )
        .await?;
        printer.info(format!(
            "created {name} again: the cookie of the release gone back to was removed when it was rolled back"
        ));
    }
    let release = format!("{ROLLBACK_PREFIX}{}", release_id());
    // The services go back at once, as deploy-release deploys them: one slow
    // rollout must not hold the others back for its whole timeout.
    let rollbacks = plan.services.into_iter().map(
        |ServicePlan {
             service,
             current,
             target,
             images,
             follow,
         }| {
            let (printer, ssm_client, cluster, caller, life) = (
                printer,
                &ssm_client,
                &plan.cluster,
                &plan.caller_arn,
                &plan.life,
            );
            let parameter = stack.release_record_parameter(&service.name);
            let (release, previous) = match &follow {
                Some(record) => (record.release.clone(), record.previous.clone()),
                None => (release.clone(), Some(current.clone())),
            };
            async move {
                let record = |result: Outcome| ReleaseRecord {
                    release: release.clone(),
                    service: service.name.clone(),
                    task_definition: target.clone(),
                    revision: history::revision_of(&target),
                    images: images.clone(),
                    time: history::record_time(),
                    by: caller.clone(),
                    result,
                    previous: previous.clone(),
                    stack: Some(life.stack_id.clone()),
                };
                let client = aws.ecs();
                let mut seen = seen_events(&client, cluster, &service.name).await?;
                if target != current {
                    ecs::set_task_definition(&client, cluster, &service.name, &target).await?;
                    // In the history before the wait: a run killed outright leaves
                    // it "started", which this command run again follows to its end.
                    ssm::put_record(
                        ssm_client,
                        &parameter,
                        &serde_json::to_string(&record(Outcome::Started))?,
                    )
                    .await?;
                }
                let back = wait_back(
                    printer,
                    aws,
                    cluster,
                    &service.name,
                    &service.name,
                    &target,
                    timeout,
                    &mut seen,
                )
                .await?;
                ssm::put_record(
                    ssm_client,
                    &parameter,
                    &serde_json::to_string(&record(back.result()))?,
                )
                .await?;
                anyhow::Ok(RolledBack {
                    service: service.name.clone(),
                    from: current.clone(),
                    to: target.clone(),
                    back,
                })
            }
        },
    );
    join_all(rollbacks).await.into_iter().collect()
}
