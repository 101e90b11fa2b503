// The QC summary as charts (chart.js), with the same figures as a table
// for screen readers and keyboard users.
import { Fragment, useEffect, useRef } from "react";
import {
  BarController,
  BarElement,
  CategoryScale,
  Chart,
  Legend,
  LinearScale,
  Tooltip,
  type ChartConfiguration,
} from "chart.js";
import { qcChartData, type QcSeries } from "../app/qc";

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Legend, Tooltip);

const COLOURS = ["#1f6feb", "#d9480f", "#2b8a3e", "#862e9c", "#e8590c", "#0b7285", "#5c940d", "#c2255c"];

function useChart(config: ChartConfiguration<"bar">) {
  const canvas = useRef<HTMLCanvasElement>(null);
  const json = JSON.stringify(config.data);
  useEffect(() => {
    if (!canvas.current) return;
    const chart = new Chart(canvas.current, config);
    return () => chart.destroy();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [json]);
  return canvas;
}

export default function QcChart({ series }: { series: QcSeries[] }) {
  const data = qcChartData(series);
  const options = {
    responsive: true,
    maintainAspectRatio: false,
    animation: false as const,
    plugins: { legend: { position: "bottom" as const } },
  };
  const meanCanvas = useChart({
    type: "bar",
    data: {
      labels: data.chromosomes,
      datasets: data.meanR2.map((s, i) => ({ label: s.label, data: s.data, backgroundColor: COLOURS[i % COLOURS.length] })),
    },
    options: {
      ...options,
      scales: { y: { min: 0, max: 1, title: { display: true, text: "mean R²" } }, x: { title: { display: true, text: "chromosome" } } },
    },
  });
  const countCanvas = useChart({
    type: "bar",
    data: {
      labels: data.chromosomes,
      datasets: data.counts.map((s, i) => ({
        label: s.label,
        data: s.data,
        backgroundColor: COLOURS[Math.floor(i / 2) % COLOURS.length] + (s.threshold === "0.3" ? "88" : "ff"),
      })),
    },
    options: {
      ...options,
      scales: { y: { beginAtZero: true, title: { display: true, text: "variants" } }, x: { title: { display: true, text: "chromosome" } } },
    },
  });
  return (
    <div className="qc" data-testid="qc-chart">
      <figure>
        <figcaption>Mean R² per chromosome{series.length > 1 ? ", per target" : ""}</figcaption>
        <div className="chart-box">
          <canvas ref={meanCanvas} role="img" aria-label="Bar chart of mean R² per chromosome; the figures are in the table below" />
        </div>
      </figure>
      <figure>
        <figcaption>Variants imputed with R² ≥ 0.3 and ≥ 0.8</figcaption>
        <div className="chart-box">
          <canvas ref={countCanvas} role="img" aria-label="Bar chart of variant counts at R² thresholds; the figures are in the table below" />
        </div>
      </figure>
      <details>
        <summary>The figures as a table</summary>
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Chromosome</th>
                {series.map((s) => (
                  <th key={s.label} scope="col" colSpan={3}>
                    {s.label}
                  </th>
                ))}
              </tr>
              <tr>
                <th scope="col" />
                {series.map((s) => (
                  <Fragment key={s.label}>
                    <th scope="col">mean R²</th>
                    <th scope="col">≥ 0.3</th>
                    <th scope="col">≥ 0.8</th>
                  </Fragment>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.chromosomes.map((c, row) => (
                <tr key={c}>
                  <th scope="row">{c}</th>
                  {series.map((s, i) => (
                    <Fragment key={s.label}>
                      <td>{data.meanR2[i].data[row]?.toFixed(3) ?? "—"}</td>
                      <td>{data.counts[i * 2].data[row]?.toLocaleString() ?? "—"}</td>
                      <td>{data.counts[i * 2 + 1].data[row]?.toLocaleString() ?? "—"}</td>
                    </Fragment>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
