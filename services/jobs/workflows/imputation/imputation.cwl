#!/usr/bin/env cwl-runner
# Genotype imputation with Beagle 5 against a reference panel held on the
# node, one chromosome per target file. Self-contained (the per-chromosome
# tool is inline) so that it can be sent as a single workflow_attachment.
# The interface is the contract the hub's jobs service relies on; see
# services/jobs/workflows/README.md.
cwlVersion: v1.2
class: Workflow
label: Beagle 5 imputation, scattered over chromosomes
doc: |
  Imputes each target VCF (one chromosome each, phased or unphased) against
  `panels/<panel>/<chrom>.vcf.gz` with Beagle 5, which also phases the
  target. Writes `chr<N>.imputed.vcf.gz` (+ .tbi) and the sites-only
  `chr<N>.info.gz` per chromosome.

requirements:
  ScatterFeatureRequirement: {}

inputs:
  target:
    type: File[]
    doc: Bgzipped VCFs, one chromosome each (CHROM `20` or `chr20`).
  panel:
    type: string
    doc: The reference panel's slug, a directory under `panels`.
  panels:
    type: Directory
    doc: >
      Holds `<panel>/<chrom>.vcf.gz` (bgzipped, phased reference VCF per
      chromosome, `<chrom>` as written in the target's CHROM column) and
      optionally `<panel>/<chrom>.map` (PLINK genetic map), used when present.
  build:
    type: string?
    doc: Genome build of target and panel (hg19 or hg38); informative.
  phasing:
    type: string?
    doc: >
      Informative; Beagle phases the target itself. `no_phasing` states that
      the input is already phased.
  r2_filter:
    type: float?
    doc: When set, imputed variants whose DR2 is below it are dropped.
  nthreads:
    type: int?
    default: 1
    doc: Threads Beagle uses per chromosome.

outputs:
  imputed:
    type: File[]
    outputSource: impute/imputed
    doc: chr<N>.imputed.vcf.gz per input chromosome (phased GT, INFO AF/DR2/IMP), with its .tbi.
  info:
    type: File[]
    outputSource: impute/info
    doc: chr<N>.info.gz per input chromosome, the sites-only VCF (INFO DR2/AF/IMP).

steps:
  impute:
    scatter: target
    in:
      target: target
      panel: panel
      panels: panels
      build: build
      phasing: phasing
      r2_filter: r2_filter
      nthreads: nthreads
    out: [imputed, info]
    run:
      class: CommandLineTool
      label: Beagle 5 imputation of one chromosome
      hints:
        SoftwareRequirement:
          packages:
            beagle:
              version: ["5.4"]
            bcftools:
              version: ["1.16"]
            tabix:
              version: ["1.16"]
      requirements:
        ResourceRequirement:
          coresMin: $(inputs.nthreads)
        InitialWorkDirRequirement:
          listing:
            - entryname: impute.sh
              # No `$(`/`${` in the script: CWL would read them as expressions.
              entry: |
                set -eu
                target=$1 panels=$2 panel=$3 nthreads=$4 build=$5 phasing=$6 r2=$7
                chroms=`bcftools query -f '%CHROM\n' "$target" | sort -u`
                count=`printf '%s\n' "$chroms" | grep -c . || true`
                if [ "$count" -ne 1 ]; then
                  echo "impute: $target must hold exactly one chromosome, found $count" >&2
                  exit 1
                fi
                chrom=$chroms
                n=`printf '%s' "$chrom" | sed 's/^chr//'`
                ref="$panels/$panel/$chrom.vcf.gz"
                map="$panels/$panel/$chrom.map"
                if [ ! -f "$ref" ]; then
                  echo "impute: panel $panel has no $chrom.vcf.gz in $panels/$panel" >&2
                  exit 1
                fi
                set -- gt="$target" ref="$ref" out="beagle.chr$n" nthreads="$nthreads"
                if [ -f "$map" ]; then set -- "$@" map="$map"; fi
                echo "impute: chromosome $chrom, panel $panel, build $build, phasing $phasing" >&2
                echo "impute: beagle $*" >&2
                beagle "$@" >&2
                out="chr$n.imputed.vcf.gz"
                if [ "$r2" != "-" ]; then
                  bcftools view -e "INFO/IMP=1 && INFO/DR2<$r2" -Oz -o "$out" "beagle.chr$n.vcf.gz"
                  rm "beagle.chr$n.vcf.gz"
                else
                  mv "beagle.chr$n.vcf.gz" "$out"
                fi
                tabix -f -p vcf "$out"
                bcftools view -G -Oz -o "chr$n.info.gz" "$out"
      baseCommand: [sh, impute.sh]
      inputs:
        target:
          type: File
          inputBinding: {position: 1}
        panels:
          type: Directory
          inputBinding: {position: 2}
        panel:
          type: string
          inputBinding: {position: 3}
        nthreads:
          type: int?
          default: 1
          inputBinding: {position: 4}
        build:
          type: string?
          default: "-"
          inputBinding: {position: 5}
        phasing:
          type: string?
          default: "-"
          inputBinding: {position: 6}
        r2_filter:
          type: ["null", float, string]
          default: "-"
          inputBinding: {position: 7}
      outputs:
        imputed:
          type: File
          outputBinding: {glob: "chr*.imputed.vcf.gz"}
          secondaryFiles: [.tbi]
        info:
          type: File
          outputBinding: {glob: "chr*.info.gz"}
