# Shared helpers for paratune's CMake files.

# Warnings on everywhere (-Wall -Wextra), clean build expected.
function(paratune_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
endfunction()

# paratune_library(NAME folder DEPS ...): a static library from every .cpp in the folder
# (sub-folders included), headers included as "folder/file.h" from the repository root.
function(paratune_library name)
  cmake_parse_arguments(ARG "" "" "DEPS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  if(NOT srcs)  # a folder still being written: header-only for now
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR})
    target_link_libraries(${name} INTERFACE ${ARG_DEPS})
    return()
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
  paratune_warnings(${name})
endfunction()

# paratune_test(NAME SOURCES a.cpp b.cpp LIBS ... LABELS unit ...): a gtest executable
# registered with ctest under the given labels.
function(paratune_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gtest_main)
  paratune_warnings(${name})
  add_test(NAME ${name} COMMAND ${name} WORKING_DIRECTORY ${PROJECT_SOURCE_DIR})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT ${ARG_TIMEOUT}
    ENVIRONMENT "PARATUNE_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
endfunction()
