# orderbridge(1) from the built binary's --help texts: the command list of `orderbridge --help`,
# then `orderbridge <command> --help` for each command it names, so a new command or option
# reaches the man page without anyone editing it.
# usage: cmake -DOB=path/to/orderbridge -DVERSION=x.y.z -DOUT=orderbridge.1.gz -P manpage.cmake

function(help_of out)
  execute_process(COMMAND ${OB} ${ARGN} --help OUTPUT_VARIABLE text RESULT_VARIABLE rc
    ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "orderbridge ${ARGN} --help: exit ${rc}\n${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# Help text as roff, kept as it is laid out (.nf): backslashes and hyphens escaped, and a line
# starting with . or ' must not read as a request.
function(roff out text)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REGEX REPLACE "\n([.'])" "\n\\\\&\\1" text "\n${text}")
  string(REGEX REPLACE "\n+$" "" text "${text}")
  set(${out} ".nf${text}\n.fi\n" PARENT_SCOPE)
endfunction()

help_of(usage)
string(REGEX REPLACE ".*\ncommands:" "" listing "${usage}")
string(REGEX MATCHALL "\n  [a-z][a-z-]*" commands "${listing}")
list(TRANSFORM commands REPLACE "^\n  " "")
if(NOT commands)
  message(FATAL_ERROR "no commands found in `orderbridge --help`")
endif()

roff(description "${usage}")
set(page ".TH ORDERBRIDGE 1 \"\" \"orderbridge ${VERSION}\" \"User Commands\"
.SH NAME
orderbridge \\- Kafka orders to warehouse HTTP APIs, fulfillment status events back to Kafka
.SH SYNOPSIS
.B orderbridge
.I command
.RI [ options ]
.SH DESCRIPTION
${description}.SH COMMANDS
")
foreach(command ${commands})
  help_of(text ${command})
  if(NOT text MATCHES "^usage:") # version takes no --help: it prints the versions
    string(REGEX MATCH "\n  ${command}[^\n]*" text "${listing}")
    string(STRIP "${text}" text)
  endif()
  roff(text "${text}")
  string(REPLACE "-" "\\-" heading "${command}")
  string(APPEND page ".SS ${heading}\n${text}")
endforeach()
string(APPEND page ".SH FILES
.TP
.I /etc/orderbridge/orderbridge.json
the config of the packaged service (an example: /usr/share/orderbridge/example.json)
.TP
.I /etc/orderbridge/env
the service's environment, for secrets referenced as env:NAME
.TP
.I /var/lib/orderbridge
the service's state: the delivery ledger
.SH SEE ALSO
The configuration reference and operations guide, docs/configuration.md and docs/operations.md
in the source.
")

get_filename_component(dir "${OUT}" DIRECTORY)
get_filename_component(name "${OUT}" NAME_WE)
file(WRITE "${dir}/${name}.1" "${page}")
# gzip -n: no name or time stamp, so the same page gives the same bytes.
execute_process(COMMAND gzip -9nc "${dir}/${name}.1" OUTPUT_FILE "${OUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "gzip failed: ${rc}")
endif()
