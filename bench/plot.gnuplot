# Draws docs/benchmarks.png from bench/ratios.dat (written by bench/report).
set terminal pngcairo size 1100,440 font "sans,10" noenhanced
set output "docs/benchmarks.png"
set title "Herald / Node reference (lower is better; 1 = same as Node)"
set style data histograms
set style fill solid 0.85 border -1
set boxwidth 0.7
set yrange [0:1.7]
set grid ytics
set xtics rotate by -20
set arrow from graph 0, first 1 to graph 1, first 1 nohead lc rgb "#e03131" lw 2
plot "bench/ratios.dat" using 2:xtic(1) lc rgb "#3b5bdb" notitle
