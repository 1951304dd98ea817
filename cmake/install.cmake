# Installs headers, the layer libraries, a CMake package and pkg-config files (reactor.pc,
# and reactor-tls.pc when TLS is built).
include(CMakePackageConfigHelpers)

set(installed_targets reactor_core reactor_net reactor_http reactor_co reactor)
if(REACTOR_TLS)
  list(APPEND installed_targets reactor_tls reactor_tls_umbrella)
  install(DIRECTORY include/reactor DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
else()
  install(DIRECTORY include/reactor DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} PATTERN tls EXCLUDE)
endif()
install(TARGETS ${installed_targets}
  EXPORT reactorTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT reactorTargets NAMESPACE reactor:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reactor)

configure_package_config_file(cmake/reactorConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/reactorConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reactor)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/reactorConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/reactorConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/reactorConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/reactor)

# The .pc file finds the prefix from its own place (${pcfiledir}), so it stays right when
# the install prefix is chosen only at install time (cmake --install --prefix DIR).
file(RELATIVE_PATH REACTOR_PC_TO_PREFIX /${CMAKE_INSTALL_LIBDIR}/pkgconfig /)
string(REGEX REPLACE "/$" "" REACTOR_PC_TO_PREFIX "${REACTOR_PC_TO_PREFIX}")
configure_file(cmake/reactor.pc.in ${CMAKE_CURRENT_BINARY_DIR}/reactor.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/reactor.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(REACTOR_TLS)
  configure_file(cmake/reactor-tls.pc.in ${CMAKE_CURRENT_BINARY_DIR}/reactor-tls.pc @ONLY)
  install(FILES ${CMAKE_CURRENT_BINARY_DIR}/reactor-tls.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
endif()
