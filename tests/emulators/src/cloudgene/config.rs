//! What an emulated server offers and how its jobs behave.

/// Settings of an [`Emulator`](super::Emulator); `Config::default()` is a
/// Michigan-like server with three panels.
#[derive(Clone, Debug)]
pub struct Config {
    /// The server's name (`GET /api/v2/server`).
    pub server_name: String,
    /// The imputation app (`imputationserver2 2.0.7`).
    pub app: App,
    /// Reference panels offered through the app's `refpanel` parameter.
    pub panels: Vec<Panel>,
    /// Jobs a user may have waiting or running at once (Cloudgene's
    /// `maxRunningJobsPerUser`); one more submit answers 400.
    pub max_jobs_per_user: usize,
    /// Downloads allowed per result file (`maxDownloads`); -1 for unlimited.
    pub max_downloads: i64,
    /// Fewer samples than this fail input validation.
    pub min_samples: usize,
    /// How many status polls each phase of a job lasts.
    pub polls: Polls,
    /// How jobs end unless a [`Script`] says otherwise.
    pub outcome: Outcome,
    /// The per-variant info file inside each result zip.
    pub info_format: InfoFormat,
    /// Starts in maintenance mode.
    pub maintenance: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            server_name: "Emulated Imputation Server".to_owned(),
            app: App::default(),
            panels: vec![
                Panel::new(
                    "1000g-phase-3-v5",
                    "2.0.0",
                    "1000G Phase 3 (GRCh37/hg19)",
                    "hg19",
                )
                .populations(&[
                    ("afr", "AFR"),
                    ("amr", "AMR"),
                    ("eas", "EAS"),
                    ("eur", "EUR"),
                    ("sas", "SAS"),
                    ("mixed", "Other/Mixed"),
                ]),
                Panel::new(
                    "h3africa-v6hc-s",
                    "1.0.0",
                    "H3Africa v6 high coverage (GRCh38/hg38)",
                    "hg38",
                )
                .populations(&[("afr", "AFR"), ("mixed", "Other/Mixed")]),
                Panel::new("hapmap-2", "2.0.0", "HapMap 2 (GRCh37/hg19)", "hg19")
                    .populations(&[("eur", "EUR"), ("mixed", "Other/Mixed")]),
            ],
            max_jobs_per_user: 3,
            max_downloads: 10,
            min_samples: 20,
            polls: Polls::default(),
            outcome: Outcome::Success,
            info_format: InfoFormat::SitesVcf,
            maintenance: false,
        }
    }
}

/// The imputation app the server runs.
#[derive(Clone, Debug)]
pub struct App {
    /// Id used in `/api/v2/jobs/submit/{id}` (`imputationserver2`).
    pub id: String,
    /// Display name (`Genotype Imputation`).
    pub name: String,
    /// Version (`2.0.7`); the job's `application` is `"{name} {version}"`.
    pub version: String,
}

impl Default for App {
    fn default() -> Self {
        Self {
            id: "imputationserver2".to_owned(),
            name: "Genotype Imputation".to_owned(),
            version: "2.0.7".to_owned(),
        }
    }
}

/// A reference panel, installed as the app `{id}@{version}`; the app's
/// `refpanel` values are `apps@{id}@{version}`.
#[derive(Clone, Debug)]
pub struct Panel {
    /// Short id (`h3africa-v6hc-s`).
    pub id: String,
    /// Version (`1.0.0`).
    pub version: String,
    /// Display name.
    pub name: String,
    /// `hg19` or `hg38`.
    pub build: String,
    /// Populations of the allele-frequency check: (id, name).
    pub populations: Vec<(String, String)>,
}

impl Panel {
    /// A panel without populations.
    pub fn new(id: &str, version: &str, name: &str, build: &str) -> Self {
        Self {
            id: id.to_owned(),
            version: version.to_owned(),
            name: name.to_owned(),
            build: build.to_owned(),
            populations: Vec::new(),
        }
    }

    /// Sets the populations: (id, name).
    pub fn populations(mut self, populations: &[(&str, &str)]) -> Self {
        self.populations = populations
            .iter()
            .map(|(id, name)| ((*id).to_owned(), (*name).to_owned()))
            .collect();
        self
    }

    /// `apps@{id}@{version}`, the key clients send as `refpanel`.
    pub fn key(&self) -> String {
        format!("apps@{}@{}", self.id, self.version)
    }
}

/// How many status polls (`GET /api/v2/jobs/{id}` or `/status`) each phase
/// of a job is observed for. Nothing advances with wall-clock time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Polls {
    /// Polls answering WAITING (1) before the job starts; 0 starts it on the first poll.
    pub waiting: u32,
    /// Polls answering RUNNING (2) per step (at least 1).
    pub per_step: u32,
    /// Polls answering EXPORTING (3) after the last step.
    pub exporting: u32,
}

impl Default for Polls {
    fn default() -> Self {
        Self {
            waiting: 1,
            per_step: 1,
            exporting: 1,
        }
    }
}

/// The steps of an imputationserver2 job, as the job's `steps` list them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// `Input Validation`: files, samples, chromosomes, parameters.
    InputValidation,
    /// `Quality Control`: allele checks against the panel.
    QualityControl,
    /// `Phasing and Imputation` (skipped in `qc_only` mode).
    Imputation,
    /// `Summary`: compression and encryption of the results.
    Summary,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 4] = [
        Step::InputValidation,
        Step::QualityControl,
        Step::Imputation,
        Step::Summary,
    ];

    /// The name in the job JSON.
    pub fn name(self) -> &'static str {
        match self {
            Step::InputValidation => "Input Validation",
            Step::QualityControl => "Quality Control",
            Step::Imputation => "Phasing and Imputation",
            Step::Summary => "Summary",
        }
    }
}

/// How a job ends once it has run its steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// SUCCESS (4) with results; input validation may still fail it.
    Success,
    /// FAILED (5) at the end of `step`, whose message becomes this ERROR text.
    Fail {
        /// Where it fails.
        step: Step,
        /// The step's ERROR message.
        message: String,
    },
    /// DEAD (-1) while `step` runs (the server lost the job, e.g. on restart).
    Dead {
        /// The step left RUNNING.
        step: Step,
    },
    /// Succeeds, then reports RETIRED (7): results deleted, downloads answer 404.
    Retired,
}

/// How one job behaves; queue one with [`Emulator::script_next_job`](super::Emulator::script_next_job).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Script {
    /// Polls per phase.
    pub polls: Polls,
    /// The ending.
    pub outcome: Outcome,
}

impl Script {
    /// A job that ends this way, with the given poll counts.
    pub fn new(polls: Polls, outcome: Outcome) -> Self {
        Self { polls, outcome }
    }

    /// Fails at the end of `step` with this message.
    pub fn fail_at(step: Step, message: impl Into<String>) -> Self {
        Self {
            polls: Polls::default(),
            outcome: Outcome::Fail {
                step,
                message: message.into(),
            },
        }
    }
}

/// The per-variant info file inside `chr_N.zip`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InfoFormat {
    /// `chrN.info.gz` as a sites-only VCF with `AF`, `MAF`, `R2` in INFO
    /// (Minimac4, current servers).
    SitesVcf,
    /// `chrN.info.gz` as the older tab file with an `Rsq` column (Minimac3).
    Tabular,
}
