# Level- versus edge-triggered readiness over time, for a reader that takes at most 40 bytes
# per notification. Render: docs/diagrams/render.sh (gnuplot from Debian).
set terminal pngcairo size 900,520 font "Helvetica,10"
set output "edge_level.png"
set multiplot layout 2,1 title "A reader that takes 40 bytes per notification: level- vs edge-triggered"
set xrange [0:10]
set yrange [0:130]
set ylabel "unread bytes"
set grid ytics
set key top right
# Level-triggered: 100 bytes at t=1; notified at t=1, 2, 3 until drained; 30 more at t=6,
# notified at t=6. Nothing is ever left behind.
$level << EOD
0 0
1 100
1.5 60
2.5 20
3.5 0
6 30
6.5 0
10 0
EOD
$level_events << EOD
1 100
2 100
3 100
6 100
EOD
# Edge-triggered: notified once at t=1 (40 read, 60 left and no further edge); 30 more at
# t=6 make a new edge: 40 read, 50 left. Bytes wait until the peer happens to send again.
$edge << EOD
0 0
1 100
1.5 60
6 90
6.5 50
10 50
EOD
$edge_events << EOD
1 100
6 100
EOD
set title "level-triggered (epoll, poll, select): notified while bytes remain"
set xtics format ""
plot $level with steps lw 2 lc rgb "#4a6fa5" title "unread bytes", \
     $level_events with impulses lw 3 lc rgb "#b07d1a" title "notification"
set title "edge-triggered (epoll-et): notified only when new bytes arrive"
set xtics format "%g"
set xlabel "time"
plot $edge with steps lw 2 lc rgb "#a54a4a" title "unread bytes (stuck at 60, then 50)", \
     $edge_events with impulses lw 3 lc rgb "#b07d1a" title "notification"
unset multiplot
