//! `build <STACK>`: build the stack's images with the local Docker engine and
//! push them to ECR (`ops::build`); prints each image pinned by digest.

use serde::Serialize;

use super::Context;
use crate::aws::Aws;
use crate::cli::BuildArgs;
use crate::ops::build::{build_and_push, plan, BuiltImage};
use crate::ops::select_services;
use crate::validation;

#[derive(Serialize)]
struct Report<'a> {
    stack: &'a str,
    tag: &'a str,
    dirty: bool,
    images: Vec<ImageReport<'a>>,
}

#[derive(Serialize)]
struct ImageReport<'a> {
    #[serde(flatten)]
    built: &'a BuiltImage,
    pinned: String,
}

pub async fn run(context: &Context, args: &BuildArgs) -> anyhow::Result<()> {
    let printer = &context.printer;
    let stack = validation::load_checked(&context.global.config_dir, &args.stack)?;
    let services = select_services(&stack, &args.service)?;
    let plan = plan(&stack, &services, args.allow_dirty).await?;
    if plan.dirty {
        printer.warn(format!(
            "building uncommitted changes (--allow-dirty): tagged {}",
            plan.tag
        ));
    }
    let aws = Aws::load(&context.aws, Some(&stack)).await?;
    let mut again = format!("stackup build {}", stack.name);
    for service in &args.service {
        again.push_str(&format!(" --service {service}"));
    }
    if args.allow_dirty {
        again.push_str(" --allow-dirty");
    }
    let built = build_and_push(printer, &aws, &stack, &plan, &again).await?;
    let pushed = built.iter().filter(|image| image.pushed).count();
    printer.success(format!(
        "{} image(s) ready, {pushed} pushed, {} already in the registry",
        built.len(),
        built.len() - pushed
    ));
    if printer.is_json() {
        let images = built
            .iter()
            .map(|image| ImageReport {
                built: image,
                pinned: image.pinned(),
            })
            .collect();
        printer.json(&Report {
            stack: &stack.name,
            tag: &plan.tag,
            dirty: plan.dirty,
            images,
        })
    } else {
        let lines: Vec<String> = built
            .iter()
            .map(|image| format!("{}={}", image.container, image.pinned()))
            .collect();
        // One line per image, each ending in a newline, as every command's data.
        printer.data(&format!("{}\n", lines.join("\n")))
    }
}
