#!/usr/bin/env python3
"""Makes the synthetic imputation test data under tests/data/wes/.

Regenerate (from the repository root; msprime lives only in a throwaway venv,
CI never runs this script, it uses the files committed beside it):

    python3 -m venv /tmp/msprime-venv
    /tmp/msprime-venv/bin/pip install msprime==1.4.4 tskit==1.0.3 numpy==2.4.6
    /tmp/msprime-venv/bin/python tests/data/wes/generate.py

It needs `bgzip` and `tabix` on PATH (Debian package tabix, installed by
scripts/install-test-tools). The output is the same on every run (fixed seed):

    panels/synthetic-afr/20.vcf.gz   phased reference panel, CHROM 20 (hg19
                                     style), PANEL_SAMPLES samples
    panels/synthetic-afr/20.vcf.gz.tbi
    panels/synthetic-afr/20.map      PLINK genetic map (1 cM/Mb, as simulated)
    target.vcf.gz                    TARGET_SAMPLES other samples, unphased,
                                     typed at every TYPED_EVERY-th panel site
    target.vcf.gz.tbi
    counts.json                      the counts README.md quotes

One population of African-like effective size is simulated with msprime
(coalescent with recombination, then mutations); the individuals are split
into panel and target, so no target sample is in the panel. Only biallelic
SNVs whose ALT allele the panel carries at least twice (and not on every
haplotype) are kept, so every panel site is polymorphic in the panel.
"""

import json
import os
import subprocess
import sys

import msprime

SEED = 20260520
PANEL_SLUG = "synthetic-afr"
CHROM = "20"
# Where the simulated stretch sits on chromosome 20 (hg19 coordinates).
START = 30_000_000
LENGTH = 400_000
PANEL_SAMPLES = 150
TARGET_SAMPLES = 25
TYPED_EVERY = 5
POPULATION_SIZE = 12_000
RECOMBINATION_RATE = 1e-8  # per bp per generation = 1 cM/Mb
MUTATION_RATE = 1.25e-8

HERE = os.path.dirname(os.path.abspath(__file__))


def simulate():
    """Returns the simulated tree sequence with mutations."""
    ts = msprime.sim_ancestry(
        samples=PANEL_SAMPLES + TARGET_SAMPLES,
        ploidy=2,
        population_size=POPULATION_SIZE,
        sequence_length=LENGTH,
        recombination_rate=RECOMBINATION_RATE,
        random_seed=SEED,
    )
    return msprime.sim_mutations(
        ts, rate=MUTATION_RATE, random_seed=SEED, model=msprime.JC69()
    )


def sites(ts):
    """Yields (position, ref, alt, haplotype alleles) of the kept sites.

    Haplotype alleles are 0/1 per sample node, individual by individual.
    """
    panel_haps = 2 * PANEL_SAMPLES
    last = 0
    for var in ts.variants():
        if len(var.alleles) != 2 or any(a is None or len(a) != 1 for a in var.alleles):
            continue
        pos = START + int(var.site.position) + 1
        if pos <= last:
            continue
        g = [int(x) for x in var.genotypes]
        carried = sum(g[:panel_haps])
        if carried < 2 or carried >= panel_haps:
            continue
        last = pos
        yield pos, var.alleles[0], var.alleles[1], g


def header(samples, phased_note):
    return [
        "##fileformat=VCFv4.2",
        "##source=tests/data/wes/generate.py (msprime %s, seed %d); %s"
        % (msprime.__version__, SEED, phased_note),
        "##reference=hg19",
        "##contig=<ID=%s,length=63025520>" % CHROM,
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
            + samples
        ),
    ]


def write_bgzf(path, lines):
    """Writes the lines BGZF-compressed and indexes the file with tabix."""
    data = ("\n".join(lines) + "\n").encode()
    with open(path, "wb") as out:
        subprocess.run(["bgzip", "-c"], input=data, stdout=out, check=True)
    subprocess.run(["tabix", "-f", "-p", "vcf", path], check=True)


def main():
    ts = simulate()
    panel_ids = ["AFR%04d" % (i + 1) for i in range(PANEL_SAMPLES)]
    target_ids = ["TGT%02d" % (i + 1) for i in range(TARGET_SAMPLES)]
    panel = header(panel_ids, "phased reference panel")
    target = header(target_ids, "unphased target, typed at every %dth panel site" % TYPED_EVERY)
    n_sites = 0
    n_typed = 0
    for i, (pos, ref, alt, g) in enumerate(sites(ts)):
        n_sites += 1
        vid = "%s:%d:%s:%s" % (CHROM, pos, ref, alt)
        fixed = [CHROM, str(pos), vid, ref, alt, ".", "PASS", ".", "GT"]
        panel.append(
            "\t".join(
                fixed
                + ["%d|%d" % (g[2 * s], g[2 * s + 1]) for s in range(PANEL_SAMPLES)]
            )
        )
        if i % TYPED_EVERY == 0:
            n_typed += 1
            gts = []
            for s in range(PANEL_SAMPLES, PANEL_SAMPLES + TARGET_SAMPLES):
                a, b = sorted((g[2 * s], g[2 * s + 1]))
                gts.append("%d/%d" % (a, b))
            target.append("\t".join(fixed + gts))

    panel_dir = os.path.join(HERE, "panels", PANEL_SLUG)
    os.makedirs(panel_dir, exist_ok=True)
    write_bgzf(os.path.join(panel_dir, CHROM + ".vcf.gz"), panel)
    write_bgzf(os.path.join(HERE, "target.vcf.gz"), target)
    # PLINK map: chromosome, id, cM, bp; linear at the simulated 1 cM/Mb.
    with open(os.path.join(panel_dir, CHROM + ".map"), "w") as f:
        for bp in (START + 1, START + LENGTH):
            cm = (bp - START - 1) * RECOMBINATION_RATE * 100
            f.write("%s\t.\t%.6f\t%d\n" % (CHROM, cm, bp))
    counts = {
        "panel": PANEL_SLUG,
        "chrom": CHROM,
        "panel_samples": PANEL_SAMPLES,
        "panel_variants": n_sites,
        "target_samples": TARGET_SAMPLES,
        "typed_variants": n_typed,
        "target_sample_ids": target_ids,
    }
    with open(os.path.join(HERE, "counts.json"), "w") as f:
        json.dump(counts, f, indent=2)
        f.write("\n")
    json.dump(counts, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
