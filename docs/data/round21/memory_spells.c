// Spells of memory traffic (round 21, docs/profilers.md): on for U(5,20) s copying a 256 MiB
// buffer, off for U(5,20) s, for ever (kill it when done). A stand-in for another job's memory
// traffic on this machine while a profile runs.
//   gcc -O2 -o memory_spells memory_spells.c && ./memory_spells SEED &
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
int main(int argc,char**argv){
  size_t n=256u<<20; char*a=malloc(n),*b=malloc(n); memset(a,1,n); memset(b,2,n);
  srand(argc>1?atoi(argv[1]):1);
  for(;;){
    double on=5+15.0*rand()/RAND_MAX, off=5+15.0*rand()/RAND_MAX, t0=now();
    while(now()-t0<on){memcpy(b,a,n);a[rand()%n]++;}
    usleep((useconds_t)(off*1e6));
  }
}
