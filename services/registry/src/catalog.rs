//! The public catalogue seeded into an empty registry on first start.
//!
//! Every value below comes from a public source named next to it. Where no
//! source gave a value it is left unset (empty, 0) rather than guessed;
//! `SyncReferencePanels` fills in panels, populations and versions from the
//! Cloudgene servers themselves.
//!
//! Sources:
//! - [IS2] genepi/imputationserver2 `cloudgene.yaml` (app `imputationserver2`:
//!   `build` hg19/hg38, `r2Filter` 0/0.001/0.1/0.2/0.3, `phasing`
//!   eagle/beagle/no_phasing, Beagle "HRC and 1KG only").
//! - [BOT] lukfor/imputationbot `docs/reference-panels.md` (`imputationbot
//!   refpanels` against the Michigan server: panel ids, names, populations).
//! - [MIS] imputationserver.readthedocs.io/en/latest/reference-panels/
//!   (sample and site counts of HRC r1.1 and 1000G Phase 3 v5).
//! - [AFG] AfriGen-D/imputation-service-docs (builds 37/38, phasing Eagle2 or
//!   none; "H3Africa v6: GRCh38/hg38 only").
//! - [H3A] job submissions to impute.afrigen-d.org recorded by the original
//!   platform: `refpanel=apps@h3africa-v6hc-s@1.0.0` accepted by
//!   `POST /api/v2/jobs/submit/imputationserver2`.
//! - [TIS] TOPMed job logs and submission scripts in public repositories
//!   ("Reference Panel: apps@topmed-r3@1.0.0 (hg38)", `population=all`,
//!   input build hg19 lifted over), the reference notes (`population`
//!   off/all), and the TOPMed r3 size (133,597 samples) as cited by the
//!   MRC IEU imputation guide.
//! - [ELW] elwazi/eLwazi-pilot-node-install and the original platform's
//!   service list: the ILIFU GA4GH Starter Kit WES at
//!   `http://ga4gh-starter-kit.ilifu.ac.za:6000/ga4gh/wes/v1` (plain http,
//!   as the node serves it).

use crate::model::{
    ApiSettings, ApiType, GenomeBuild, InputFormat, MichiganSettings, PanelSpec, Phasing,
    Population, ServiceSpec, WesSettings,
};

/// One seeded service with its panels.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub service: ServiceSpec,
    pub panels: Vec<PanelSpec>,
}

/// The `r2Filter` values of the `imputationserver2` application [IS2].
const R2_FILTERS: [f64; 5] = [0.0, 0.001, 0.1, 0.2, 0.3];

/// The hub converts any of these into what the servers take.
const ALL_FORMATS: [InputFormat; 3] =
    [InputFormat::Vcf, InputFormat::VcfBgzf, InputFormat::VcfGzip];

fn michigan_settings(r2_filter_values: &[f64]) -> ApiSettings {
    ApiSettings::Michigan(MichiganSettings {
        r2_filter_values: r2_filter_values.to_vec(),
        ..MichiganSettings::default()
    })
}

fn pops(list: &[(&str, &str)]) -> Vec<Population> {
    list.iter()
        .map(|(id, name)| Population {
            id: id.to_string(),
            name: name.to_string(),
            sample_count: 0,
        })
        .collect()
}

fn panel(slug: &str, name: &str, build: GenomeBuild) -> PanelSpec {
    PanelSpec {
        slug: slug.into(),
        name: name.into(),
        description: String::new(),
        build,
        populations: Vec::new(),
        default_population: String::new(),
        sample_count: 0,
        variant_count: 0,
        is_active: true,
        version: String::new(),
        wes_workflow: None,
    }
}

/// The seeded catalogue.
pub fn catalog() -> Vec<Entry> {
    vec![h3africa(), michigan(), topmed(), elwazi_ilifu()]
}

fn h3africa() -> Entry {
    Entry {
        service: ServiceSpec {
            name: "H3Africa Imputation Service".into(),
            slug: "h3africa".into(),
            api_type: ApiType::Michigan,
            base_url: "https://impute.afrigen-d.org".into(),
            description: "Cloudgene imputation server of AfriGen-D (H3ABioNet) with the \
                          African H3Africa reference panel, hosted in South Africa."
                .into(),
            location_country: "South Africa".into(),
            location_institution: "University of Cape Town".into(),
            // [AFG] Build 37 (hg19) or Build 38 (hg38) input.
            supported_builds: vec![GenomeBuild::Hg19, GenomeBuild::Hg38],
            input_formats: ALL_FORMATS.to_vec(),
            // [AFG] Eagle2 or no phasing.
            supported_phasing: vec![Phasing::Eagle, Phasing::NoPhasing],
            max_file_size_bytes: 0,
            is_active: true,
            auth_instructions_url: String::new(),
            // The server's r2 filter choices are not documented: Cloudgene defaults.
            settings: michigan_settings(&[]),
        },
        panels: vec![PanelSpec {
            // [H3A] id and version; [AFG] hg38 only. Populations and sizes
            // are not published: filled by SyncReferencePanels.
            version: "1.0.0".into(),
            ..panel(
                "apps@h3africa-v6hc-s@1.0.0",
                "H3Africa v6 (high coverage)",
                GenomeBuild::Hg38,
            )
        }],
    }
}

fn michigan() -> Entry {
    Entry {
        service: ServiceSpec {
            name: "Michigan Imputation Server".into(),
            slug: "michigan".into(),
            api_type: ApiType::Michigan,
            base_url: "https://imputationserver.sph.umich.edu".into(),
            description: "Free genotype imputation with Minimac4 against HRC, 1000 Genomes, \
                          CAAPA and other reference panels."
                .into(),
            location_country: "United States".into(),
            location_institution: "University of Michigan".into(),
            supported_builds: vec![GenomeBuild::Hg19, GenomeBuild::Hg38],
            input_formats: ALL_FORMATS.to_vec(),
            // [IS2]
            supported_phasing: vec![Phasing::Eagle, Phasing::Beagle, Phasing::NoPhasing],
            max_file_size_bytes: 0,
            is_active: true,
            auth_instructions_url: String::new(),
            settings: michigan_settings(&R2_FILTERS),
        },
        panels: vec![
            // [BOT] id, name, populations; [MIS] samples, sites (chr1-22).
            PanelSpec {
                populations: pops(&[("eur", "EUR"), ("mixed", "Other/Mixed")]),
                sample_count: 32_470,
                variant_count: 39_635_008,
                ..panel("apps@hrc-r1.1", "HRC r1.1 2016", GenomeBuild::Hg19)
            },
            PanelSpec {
                populations: pops(&[
                    ("eur", "EUR"),
                    ("sas", "SAS"),
                    ("eas", "EAS"),
                    ("amr", "AMR"),
                    ("mixed", "Other/Mixed"),
                    ("afr", "AFR"),
                ]),
                sample_count: 2_504,
                variant_count: 49_143_605,
                ..panel(
                    "apps@1000g-phase-3-v5",
                    "1000G Phase 3 v5",
                    GenomeBuild::Hg19,
                )
            },
            // [BOT] id, name, populations; size not published.
            PanelSpec {
                populations: pops(&[("AA", "African Americans"), ("mixed", "Other/Mixed")]),
                ..panel(
                    "apps@caapa",
                    "CAAPA African American Panel",
                    GenomeBuild::Hg19,
                )
            },
        ],
    }
}

fn topmed() -> Entry {
    Entry {
        service: ServiceSpec {
            name: "TOPMed Imputation Server".into(),
            slug: "topmed".into(),
            api_type: ApiType::Michigan,
            base_url: "https://imputation.biodatacatalyst.nhlbi.nih.gov".into(),
            description: "Imputation against the multi-ancestry TOPMed reference panel \
                          (NHLBI BioData Catalyst)."
                .into(),
            location_country: "United States".into(),
            location_institution: "University of Michigan".into(),
            // [TIS] hg19 input is lifted over to the hg38 panel.
            supported_builds: vec![GenomeBuild::Hg19, GenomeBuild::Hg38],
            input_formats: ALL_FORMATS.to_vec(),
            // [IS2] Beagle is offered for HRC and 1000G only.
            supported_phasing: vec![Phasing::Eagle, Phasing::NoPhasing],
            max_file_size_bytes: 0,
            is_active: true,
            auth_instructions_url: String::new(),
            settings: michigan_settings(&R2_FILTERS),
        },
        panels: vec![PanelSpec {
            // [TIS]
            populations: pops(&[("all", ""), ("off", "")]),
            default_population: "all".into(),
            sample_count: 133_597,
            version: "1.0.0".into(),
            ..panel("apps@topmed-r3@1.0.0", "TOPMed r3", GenomeBuild::Hg38)
        }],
    }
}

fn elwazi_ilifu() -> Entry {
    Entry {
        service: ServiceSpec {
            name: "eLwazi ILIFU Node".into(),
            slug: "elwazi-ilifu".into(),
            api_type: ApiType::Ga4ghWes,
            // [ELW]
            base_url: "http://ga4gh-starter-kit.ilifu.ac.za:6000/ga4gh/wes/v1".into(),
            description: "GA4GH WES node of the eLwazi pilot (GA4GH Starter Kit) on the ILIFU \
                          research cloud. No imputation workflow is published for it yet: an \
                          administrator sets the default workflow, the builds and the panels, \
                          then activates it."
                .into(),
            location_country: "South Africa".into(),
            location_institution: "ILIFU".into(),
            // Not published: set with the workflow.
            supported_builds: Vec::new(),
            input_formats: ALL_FORMATS.to_vec(),
            supported_phasing: Vec::new(),
            max_file_size_bytes: 0,
            // Without a workflow it cannot take jobs.
            is_active: false,
            auth_instructions_url: String::new(),
            settings: ApiSettings::Wes(WesSettings::default()),
        },
        panels: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use fip_kit::Violations;

    use super::*;
    use crate::rules;

    #[test]
    fn entries_follow_the_api_rules() {
        let entries = catalog();
        let slugs: HashSet<_> = entries.iter().map(|e| e.service.slug.as_str()).collect();
        assert_eq!(slugs.len(), entries.len());
        for entry in &entries {
            let s = &entry.service;
            let mut v = Violations::new();
            rules::name(&mut v, "name", &s.name);
            rules::service_slug(&mut v, "slug", &s.slug);
            assert_eq!(s.settings.api_type(), s.api_type, "{}", s.slug);
            if s.api_type == ApiType::Michigan {
                // The WES node is served over plain http; every Cloudgene
                // server takes https.
                rules::base_url(&mut v, "base_url", &s.base_url);
                assert!(!s.supported_builds.is_empty(), "{}", s.slug);
                assert!(!entry.panels.is_empty(), "{}", s.slug);
            }
            for p in &entry.panels {
                rules::name(&mut v, "panel.name", &p.name);
                rules::panel_slug(&mut v, "panel.slug", &p.slug);
                rules::populations(&mut v, "panel.populations", &p.populations);
                rules::default_population(
                    &mut v,
                    "panel.default_population",
                    &p.default_population,
                    &p.populations,
                );
                assert!(s.supported_builds.contains(&p.build), "{}", p.slug);
            }
            assert!(v.is_empty(), "{}: {:?}", s.slug, v.finish());
        }
    }
}
