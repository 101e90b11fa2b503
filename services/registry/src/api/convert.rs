//! Wire values shared by the resources: enums, times, free-form structs and
//! WES workflows, in both directions. Incoming values are checked and every
//! problem is recorded as a field violation.

use std::collections::BTreeMap;

use fip_kit::Violations;
use fip_kit::db::timestamp;
use fip_kit::json::{struct_in, struct_out};
use fip_proto::common::v1 as common;
use fip_proto::registry::v1 as pb;

use crate::model::{
    ApiType, CheckTrigger, GenomeBuild, HealthStatus, InputFormat, PanelSource, Phasing,
    WesInputDelivery, WesParamNames, WesWorkflow,
};
use crate::rules;

pub fn time(millis: i64) -> Option<prost_types::Timestamp> {
    Some(timestamp(millis))
}

pub fn optional_time(millis: Option<i64>) -> Option<prost_types::Timestamp> {
    millis.map(timestamp)
}

/// A wire enum value: `Ok(None)` for UNSPECIFIED, `Err` for an unknown number.
fn known<E: TryFrom<i32>>(value: i32) -> Result<E, ()> {
    E::try_from(value).map_err(|_| ())
}

pub fn api_type_in(v: &mut Violations, field: &str, value: i32) -> Option<ApiType> {
    match known::<pb::ApiType>(value) {
        Ok(pb::ApiType::Unspecified) => None,
        Ok(pb::ApiType::Michigan) => Some(ApiType::Michigan),
        Ok(pb::ApiType::Ga4ghWes) => Some(ApiType::Ga4ghWes),
        Err(()) => {
            v.add(field, "is not a known API type");
            None
        }
    }
}

pub fn api_type_out(value: ApiType) -> i32 {
    match value {
        ApiType::Michigan => pb::ApiType::Michigan,
        ApiType::Ga4ghWes => pb::ApiType::Ga4ghWes,
    }
    .into()
}

pub fn build_in(v: &mut Violations, field: &str, value: i32) -> Option<GenomeBuild> {
    match known::<common::GenomeBuild>(value) {
        Ok(common::GenomeBuild::Unspecified) => None,
        Ok(common::GenomeBuild::Hg19) => Some(GenomeBuild::Hg19),
        Ok(common::GenomeBuild::Hg38) => Some(GenomeBuild::Hg38),
        Err(()) => {
            v.add(field, "is not a known genome build");
            None
        }
    }
}

pub fn build_out(value: GenomeBuild) -> i32 {
    match value {
        GenomeBuild::Hg19 => common::GenomeBuild::Hg19,
        GenomeBuild::Hg38 => common::GenomeBuild::Hg38,
    }
    .into()
}

/// A repeated enum field: every element set and known; duplicates dropped.
fn list_in<T: PartialEq>(
    v: &mut Violations,
    field: &str,
    values: &[i32],
    one: impl Fn(&mut Violations, &str, i32) -> Option<T>,
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, value) in values.iter().enumerate() {
        let at = format!("{field}[{i}]");
        match one(v, &at, *value) {
            Some(item) if !out.contains(&item) => out.push(item),
            Some(_) => {}
            None if *value == 0 => v.add(at, "must not be unspecified"),
            None => {}
        }
    }
    out
}

pub fn builds_in(v: &mut Violations, field: &str, values: &[i32]) -> Vec<GenomeBuild> {
    list_in(v, field, values, build_in)
}

pub fn formats_in(v: &mut Violations, field: &str, values: &[i32]) -> Vec<InputFormat> {
    list_in(v, field, values, |v, at, value| {
        match known::<common::InputFormat>(value) {
            Ok(common::InputFormat::Unspecified) => None,
            Ok(common::InputFormat::Vcf) => Some(InputFormat::Vcf),
            Ok(common::InputFormat::VcfBgzf) => Some(InputFormat::VcfBgzf),
            Ok(common::InputFormat::VcfGzip) => Some(InputFormat::VcfGzip),
            Err(()) => {
                v.add(at, "is not a known input format");
                None
            }
        }
    })
}

pub fn format_out(value: InputFormat) -> i32 {
    match value {
        InputFormat::Vcf => common::InputFormat::Vcf,
        InputFormat::VcfBgzf => common::InputFormat::VcfBgzf,
        InputFormat::VcfGzip => common::InputFormat::VcfGzip,
    }
    .into()
}

pub fn phasing_in(v: &mut Violations, field: &str, values: &[i32]) -> Vec<Phasing> {
    list_in(v, field, values, |v, at, value| {
        match known::<common::Phasing>(value) {
            Ok(common::Phasing::Unspecified) => None,
            Ok(common::Phasing::Eagle) => Some(Phasing::Eagle),
            Ok(common::Phasing::Beagle) => Some(Phasing::Beagle),
            Ok(common::Phasing::NoPhasing) => Some(Phasing::NoPhasing),
            Err(()) => {
                v.add(at, "is not a known phasing method");
                None
            }
        }
    })
}

pub fn phasing_out(value: Phasing) -> i32 {
    match value {
        Phasing::Eagle => common::Phasing::Eagle,
        Phasing::Beagle => common::Phasing::Beagle,
        Phasing::NoPhasing => common::Phasing::NoPhasing,
    }
    .into()
}

pub fn health_in(v: &mut Violations, field: &str, value: i32) -> Option<HealthStatus> {
    match known::<common::HealthStatus>(value) {
        Ok(common::HealthStatus::Unspecified) => None,
        Ok(common::HealthStatus::Healthy) => Some(HealthStatus::Healthy),
        Ok(common::HealthStatus::Degraded) => Some(HealthStatus::Degraded),
        Ok(common::HealthStatus::Unhealthy) => Some(HealthStatus::Unhealthy),
        Ok(common::HealthStatus::Unknown) => Some(HealthStatus::Unknown),
        Err(()) => {
            v.add(field, "is not a known health status");
            None
        }
    }
}

pub fn health_out(value: HealthStatus) -> i32 {
    match value {
        HealthStatus::Healthy => common::HealthStatus::Healthy,
        HealthStatus::Degraded => common::HealthStatus::Degraded,
        HealthStatus::Unhealthy => common::HealthStatus::Unhealthy,
        HealthStatus::Unknown => common::HealthStatus::Unknown,
    }
    .into()
}

pub fn trigger_out(value: CheckTrigger) -> i32 {
    match value {
        CheckTrigger::Scheduled => pb::HealthCheckTrigger::Scheduled,
        CheckTrigger::OnDemand => pb::HealthCheckTrigger::OnDemand,
    }
    .into()
}

pub fn source_out(value: PanelSource) -> i32 {
    match value {
        PanelSource::Manual => pb::ReferencePanelSource::Manual,
        PanelSource::Discovered => pb::ReferencePanelSource::Discovered,
    }
    .into()
}

/// A WES workflow from the wire, checked under `field`.
pub fn workflow_in(v: &mut Violations, field: &str, value: pb::WesWorkflow) -> WesWorkflow {
    let pb::WesWorkflow {
        workflow_type,
        workflow_type_version,
        workflow_url,
        workflow_engine,
        workflow_engine_version,
        input_delivery,
        signed_url_ttl_seconds,
        param_names,
        fixed_params,
        engine_parameters,
        tags,
    } = value;
    let input_delivery = match known::<pb::WesInputDelivery>(input_delivery) {
        Ok(pb::WesInputDelivery::Unspecified) => None,
        Ok(pb::WesInputDelivery::Attachment) => Some(WesInputDelivery::Attachment),
        Ok(pb::WesInputDelivery::SignedUrl) => Some(WesInputDelivery::SignedUrl),
        Err(()) => {
            v.add(format!("{field}.input_delivery"), "is not a known delivery");
            None
        }
    };
    let param_names = match param_names {
        Some(pb::WesParamNames {
            input,
            reference_panel,
            build,
            population,
            phasing,
            r2_filter,
            mode,
        }) => WesParamNames {
            input,
            reference_panel,
            build,
            population,
            phasing,
            r2_filter,
            mode,
        },
        None => WesParamNames::default(),
    };
    let workflow = WesWorkflow {
        workflow_type,
        workflow_type_version,
        workflow_url,
        workflow_engine,
        workflow_engine_version,
        input_delivery,
        signed_url_ttl_seconds,
        param_names,
        fixed_params: struct_in(fixed_params),
        engine_parameters: struct_in(engine_parameters),
        tags: tags.into_iter().collect::<BTreeMap<_, _>>(),
    };
    rules::workflow(v, field, &workflow);
    workflow
}

pub fn workflow_out(value: &WesWorkflow) -> pb::WesWorkflow {
    let p = &value.param_names;
    pb::WesWorkflow {
        workflow_type: value.workflow_type.clone(),
        workflow_type_version: value.workflow_type_version.clone(),
        workflow_url: value.workflow_url.clone(),
        workflow_engine: value.workflow_engine.clone(),
        workflow_engine_version: value.workflow_engine_version.clone(),
        input_delivery: match value.input_delivery {
            None => pb::WesInputDelivery::Unspecified,
            Some(WesInputDelivery::Attachment) => pb::WesInputDelivery::Attachment,
            Some(WesInputDelivery::SignedUrl) => pb::WesInputDelivery::SignedUrl,
        }
        .into(),
        signed_url_ttl_seconds: value.signed_url_ttl_seconds,
        param_names: Some(pb::WesParamNames {
            input: p.input.clone(),
            reference_panel: p.reference_panel.clone(),
            build: p.build.clone(),
            population: p.population.clone(),
            phasing: p.phasing.clone(),
            r2_filter: p.r2_filter.clone(),
            mode: p.mode.clone(),
        }),
        fixed_params: struct_out(&value.fixed_params),
        engine_parameters: struct_out(&value.engine_parameters),
        tags: value.tags.clone().into_iter().collect(),
    }
}

/// The paths of an update mask; empty when there is none.
pub fn mask_paths(mask: Option<prost_types::FieldMask>) -> Vec<String> {
    mask.map(|m| m.paths).unwrap_or_default()
}
