# cmake -DINPUT=file -DOUTPUT=header.hpp -DNAME=kName -P embed_text.cmake
# Writes a header defining `inline constexpr char NAME[]` with the file's bytes, as a raw
# string literal (the file must not contain the delimiter, checked below).
file(READ ${INPUT} content)
set(delimiter "llama2_embed")
string(FIND "${content}" ")${delimiter}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter )${delimiter}\"")
endif()
file(WRITE ${OUTPUT}
  "// Generated from ${INPUT} by embed_text.cmake; edit that file instead.\n#pragma once\n\n"
  "namespace llama2::server {\ninline constexpr char ${NAME}[] = R\"${delimiter}(${content})${delimiter}\";\n}\n")
