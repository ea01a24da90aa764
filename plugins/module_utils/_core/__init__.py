# Copyright: netdebug.netfilter contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every stage shares: the error hierarchy (errors), the one way to run a tool (runner), the end of every
module's main() (module_api), installing a program that outlives its module (program), processes (procs) and the
garbage collector pause (gcpause). Stdlib only: the node-side programs ship these files.
"""
