# Draws docs/service-benchmark.png from .bin/service-ratios.dat (written by
# bench/service/report): Herald / Node per workload, lower is better.
set terminal pngcairo size 1200,480 font "sans,10" noenhanced
set output "docs/service-benchmark.png"
set title "Service benchmark: Herald / Node from the seed (lower is better; 1 = same as Node; log scale)"
set style data histograms
set style fill solid 0.85 border -1
set boxwidth 0.7
set logscale y
set yrange [0.01:30]
set grid ytics
set xtics rotate by -30
set bmargin 9
set arrow from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#e03131" lw 2
set arrow from graph 0, first 0.3333 to graph 1, first 0.3333 nohead lc rgb "#2f9e44" lw 1 dt 2
plot ".bin/service-ratios.dat" using 2:xtic(1) lc rgb "#3b5bdb" notitle
